"""API-key checks: constant-time, over every configured key."""

from __future__ import annotations

import hashlib
import hmac


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """Accepts `Authorization: Bearer <key>` or `X-API-Key: <key>`.

    Keys are compared as SHA-256 digests (equal lengths) with hmac.compare_digest,
    and every key is compared, so neither a key's length nor its position leaks
    through timing.
    """

    def __init__(self, keys: tuple[str, ...]):
        self._digests = [_digest(k) for k in keys]

    @staticmethod
    def presented(authorization: str | None, x_api_key: str | None) -> str | None:
        if x_api_key:
            return x_api_key.strip()
        if authorization:
            scheme, _, credential = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                return credential.strip()
        return None

    def valid(self, key: str | None) -> bool:
        if key is None:
            return False
        candidate = _digest(key)
        matches = [hmac.compare_digest(candidate, d) for d in self._digests]
        return any(matches)
