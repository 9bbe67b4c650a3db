"""AWS Signature Version 4 for the host's AWS calls (the AWS JSON protocol's POSTs, S3's GET and PUT)."""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse


def sign(creds: dict, region: str, service: str, url: str, headers: dict[str, str], body: bytes,
         amz_date: str, method: str = "POST") -> dict:
    """``headers`` plus X-Amz-Date, the session token and a SigV4 Authorization for ``service``.
    ``url``'s path is taken as already URI-encoded (S3's canonical path is the path as sent)."""
    parts = urllib.parse.urlsplit(url)
    headers = {**headers, "X-Amz-Date": amz_date}
    if creds.get("Token"):
        headers["X-Amz-Security-Token"] = creds["Token"]
    canonical = {k.lower(): " ".join(v.split()) for k, v in {**headers, "Host": parts.netloc}.items()}
    signed = ";".join(sorted(canonical))
    query = "&".join(f"{_encode(k)}={_encode(v)}"
                     for k, v in sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    request = "\n".join([method, parts.path or "/", query,
                         "".join(f"{k}:{canonical[k]}\n" for k in sorted(canonical)),
                         signed, hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = ("AWS4" + creds["SecretAccessKey"]).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds['AccessKeyId']}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    return headers


def _encode(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")
