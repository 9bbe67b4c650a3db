"""The S3 calls a host program makes (ListObjectsV2, GetObject, PutObject), SigV4-signed with
the instance role's credentials.

Endpoint: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (the local AWS region sets the latter)
with the bucket in the path; else the bucket's virtual-hosted address
``https://<bucket>.s3.<region>.amazonaws.com``, as the AWS SDKs send it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from .aws import TIMEOUT, AwsError
from .sigv4 import sign

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def bucket_url(bucket: str, region: str, env) -> str:
    """The URL (ending in /) the bucket's object keys are appended to."""
    custom = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if custom:
        return f"{custom.rstrip('/')}/{bucket}/"
    return f"https://{bucket}.s3.{region}.amazonaws.com/"


class Bucket:
    """One bucket, reached with one set of role credentials."""

    def __init__(self, name: str, region: str, creds: dict, env):
        self.name, self.region, self.creds = name, region, creds
        self.url = bucket_url(name, region, env)

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (all pages of ListObjectsV2)."""
        found, token = [], ""
        while True:
            query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            root = _xml(self._call("GET", "", query=query), f"ListObjectsV2 s3://{self.name}/{prefix}")
            found += [item.findtext(f"{NS}Key", "") for item in root.iter(f"{NS}Contents")]
            token = root.findtext(f"{NS}NextContinuationToken", "")
            if root.findtext(f"{NS}IsTruncated", "false") != "true" or not token:
                return found

    def get(self, key: str) -> bytes:
        return self._call("GET", key)

    def put(self, key: str, body: bytes) -> None:
        self._call("PUT", key, body=body)

    def _call(self, method: str, key: str, *, query: dict | None = None, body: bytes = b"") -> bytes:
        what = f"S3 {method} s3://{self.name}/{key}"
        url = self.url + urllib.parse.quote(key, safe="/-_.~")
        if query:
            url += "?" + urllib.parse.urlencode(sorted(query.items()), quote_via=urllib.parse.quote)
        # a PUT's body is bytes as they are (urllib would call it a form otherwise)
        headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
                   **({"Content-Type": "application/octet-stream"} if method == "PUT" else {})}
        headers = sign(self.creds, self.region, "s3", url, headers, body,
                       _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ"), method=method)
        request = urllib.request.Request(url, data=body if method == "PUT" else None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            code, message = _error(exc.read(), f"HTTP {exc.code}")
            raise AwsError(f"{what} in {self.region}: {code} {message}".rstrip(), code) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise AwsError(f"{what} at {self.url}: {getattr(exc, 'reason', exc)!s}") from None


def _xml(body: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise AwsError(f"{what}: the answer is not XML ({exc})") from None


def _error(body: bytes, fallback: str) -> tuple[str, str]:
    """(Code, Message) of an S3 error document; ``fallback`` as the code when there is none."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return fallback, ""
    return root.findtext("Code") or fallback, root.findtext("Message") or ""
