"""AWS Signature Version 4 for the host's AWS calls (POST with a body: the AWS JSON protocol)."""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse


def sign(creds: dict, region: str, service: str, url: str, headers: dict[str, str], body: bytes,
         amz_date: str) -> dict:
    """``headers`` plus X-Amz-Date, the session token and a SigV4 Authorization for ``service``."""
    parts = urllib.parse.urlsplit(url)
    headers = {**headers, "X-Amz-Date": amz_date}
    if creds.get("Token"):
        headers["X-Amz-Security-Token"] = creds["Token"]
    canonical = {k.lower(): " ".join(v.split()) for k, v in {**headers, "Host": parts.netloc}.items()}
    signed = ";".join(sorted(canonical))
    request = "\n".join(["POST", parts.path or "/", parts.query,
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
