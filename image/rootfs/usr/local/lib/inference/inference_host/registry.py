"""The updater's registry client: which digest does the tracked tag point at? One manifest HEAD.

Image references are parsed the way docker names them; credentials are found the way docker
finds them (``credHelpers``, ``credsStore``, ``auths`` in root's docker config; ECR hosts use the
``ecr-login`` helper even without an entry).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .commands import run_command
from .config import Paths
from .errors import ConfigError, UpdateError

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
ECR_HOST_RE = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True)
class Reference:
    host: str        # registry host[:port] as docker names it
    repository: str  # path inside the registry
    tag: str
    digest: str = ""  # set when the reference itself is pinned

    @classmethod
    def parse(cls, text: str) -> "Reference":
        rest, _, digest = text.partition("@")
        if digest and not DIGEST_RE.match(digest):
            raise ConfigError(f"image reference {text!r}: {digest!r} is not a sha256 digest")
        first, slash, remainder = rest.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            host, path = first, remainder
        else:
            host, path = "docker.io", rest
        name, colon, tag = path.rpartition(":")
        if not colon or "/" in tag:
            name, tag = path, "latest"
        if host == "docker.io" and "/" not in name:
            name = f"library/{name}"
        if not re.match(r"^[a-z0-9]+([._/-][a-z0-9]+)*$", name or "-"):
            raise ConfigError(f"image reference {text!r}: {name!r} is not a repository name")
        return cls(host=host, repository=name, tag=tag, digest=digest)

    @property
    def repo(self) -> str:
        """The name docker pulls `<repo>@<digest>` from."""
        return self.repository if self.host == "docker.io" else f"{self.host}/{self.repository}"

    def pinned(self, digest: str) -> str:
        return f"{self.repo}@{digest}"


def api_host(ref: Reference) -> str:
    """Where the registry API of `ref` answers (Docker Hub's is not docker.io)."""
    return "registry-1.docker.io" if ref.host == "docker.io" else ref.host


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but Authorization goes only to the origin (scheme, host, port) it was set
    for: a 307 to a CDN, another port or plain HTTP gets the request without it. HEAD stays HEAD."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
            if _origin(new.full_url) != _origin(req.full_url):
                new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_Redirects)


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse `Bearer realm="...",service="...",scope="..."` into ("bearer", {...})."""
    scheme, _, params = header.strip().partition(" ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
    return scheme.lower(), fields


class Registry:
    """Asks a Docker Registry v2 API for a tag's manifest digest with one HEAD request.

    Anonymous first; on a 401 it answers the challenge: Basic (ECR) with the docker
    credentials of that host, or Bearer via the token realm. Credentials come the way docker
    finds them: `credHelpers` (ECR: docker-credential-ecr-login), `credsStore`, `auths`.
    Registries listed in daemon.json's insecure-registries (and loopback ones) are plain HTTP.
    """

    def __init__(self, paths: Paths, runner=run_command, timeout: float = 10.0):
        self.paths = paths
        self.run = runner
        self.timeout = timeout

    # which scheme
    def insecure(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        try:
            if name == "localhost" or ipaddress.ip_address(name.strip("[]")).is_loopback:
                return True
        except ValueError:
            pass
        for entry in self._json(self.paths.daemon_json).get("insecure-registries", []):
            if entry == host:
                return True
            try:
                if "/" in entry and ipaddress.ip_address(name) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def _json(self, path: Path) -> dict:
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UpdateError("config_error", f"cannot read {path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    # credentials
    def credentials(self, host: str) -> tuple[str, str] | None:
        config = self._json(self.paths.docker_config)
        helper = config.get("credHelpers", {}).get(host) or config.get("credsStore")
        if not helper and ECR_HOST_RE.match(host):
            helper = "ecr-login"
        if helper:
            return self._from_helper(helper, host)
        auth = config.get("auths", {}).get(host, {}).get("auth")
        if auth:
            user, _, secret = base64.b64decode(auth).decode().partition(":")
            return user, secret
        return None

    def _from_helper(self, helper: str, host: str) -> tuple[str, str]:
        tool = f"docker-credential-{helper}"
        code, out, err = self.run([tool, "get"], input=host, timeout=60)
        if code == 127:
            raise UpdateError("auth_error", f"credential helper {tool} is not installed", registry=host)
        if code != 0:
            detail = (err or out).strip().splitlines()[-1:] or ["no output"]
            raise UpdateError("auth_error", f"{tool} get failed for {host} (exit {code}): {detail[0]}",
                              registry=host)
        try:
            data = json.loads(out)
            return data["Username"], data["Secret"]
        except (ValueError, KeyError, TypeError):
            raise UpdateError("auth_error", f"{tool} returned no Username/Secret for {host}",
                              registry=host) from None

    # the request
    def digest(self, ref: Reference) -> str:
        if ref.digest:
            return ref.digest
        scheme = "http" if self.insecure(ref.host) else "https"
        url = f"{scheme}://{api_host(ref)}/v2/{ref.repository}/manifests/{ref.tag}"
        status, headers, body = self._request("HEAD", url, {"Accept": MANIFEST_TYPES}, ref)
        if status == 401:
            auth = self._authorization(headers.get("WWW-Authenticate", ""), ref)
            status, headers, body = self._request("HEAD", url, {"Accept": MANIFEST_TYPES,
                                                                "Authorization": auth}, ref)
            if status == 401:
                raise UpdateError("auth_error", f"{ref.host} rejected the credentials (expired or not "
                                  f"allowed to pull {ref.repository})", registry=ref.host)
        if status == 404:
            raise UpdateError("registry_error", f"{ref.repo}:{ref.tag} does not exist in the registry",
                              registry=ref.host)
        if status != 200:
            raise UpdateError("registry_error", f"{ref.host} answered HTTP {status} for the manifest",
                              registry=ref.host)
        digest = headers.get("Docker-Content-Digest", "")
        if not DIGEST_RE.match(digest):
            raise UpdateError("registry_error", f"{ref.host} sent no usable Docker-Content-Digest "
                              f"({digest!r})", registry=ref.host)
        return digest

    def _authorization(self, header: str, ref: Reference) -> str:
        scheme, params = _challenge(header)
        creds = self.credentials(ref.host)
        if scheme == "basic":
            if not creds:
                raise UpdateError("auth_error", f"{ref.host} needs credentials and none are configured "
                                  f"(credHelpers/auths in {self.paths.docker_config})", registry=ref.host)
            return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        if scheme == "bearer" and params.get("realm"):
            query = {"service": params.get("service", ""),
                     "scope": params.get("scope") or f"repository:{ref.repository}:pull"}
            url = params["realm"] + "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
            headers, missing = {}, f"; no credentials configured in {self.paths.docker_config}"
            if creds and not self._realm_may_see_credentials(params["realm"], ref):
                creds, missing = None, f"; credentials not sent to {params['realm']}: not HTTPS"
            if creds:
                headers["Authorization"] = "Basic " + base64.b64encode(
                    f"{creds[0]}:{creds[1]}".encode()).decode()
                missing = ""
            status, _, body = self._request("GET", url, headers, ref)
            if status != 200:
                raise UpdateError("auth_error", f"token service {params['realm']} answered HTTP "
                                  f"{status}{missing}", registry=ref.host)
            try:
                data = json.loads(body)
                return "Bearer " + (data.get("token") or data["access_token"])
            except (ValueError, KeyError, TypeError):
                raise UpdateError("auth_error", f"token service {params['realm']} sent no token",
                                  registry=ref.host) from None
        raise UpdateError("auth_error", f"{ref.host} asks for unsupported authentication {header!r}",
                          registry=ref.host)

    def _realm_may_see_credentials(self, realm: str, ref: Reference) -> bool:
        """The token service gets Basic credentials over HTTPS only, or over plain HTTP when it is
        the registry itself and that one is plain HTTP by docker's rules (the local 10.99.0.1:5000)."""
        parts = urllib.parse.urlsplit(realm)
        return parts.scheme == "https" or (parts.scheme == "http" and parts.netloc == api_host(ref)
                                           and self.insecure(ref.host))

    def _request(self, method: str, url: str, headers: dict, ref: Reference):
        """One request; redirects are followed without Authorization off the origin (_Redirects),
        and a challenge from where a redirect led is not answered: credentials are for `url` only."""
        request = urllib.request.Request(url, method=method, headers=headers)
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                status, answer, body = response.status, response.headers, response.read()
                final = response.geturl()
        except urllib.error.HTTPError as exc:
            status, answer, body, final = exc.code, exc.headers, exc.read(), exc.geturl()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UpdateError("registry_unreachable", f"cannot reach {urllib.parse.urlsplit(url).netloc}: "
                              f"{reason}", registry=ref.host) from None
        if status == 401 and _origin(final) != _origin(url):
            raise UpdateError("auth_error", f"{urllib.parse.urlsplit(url).netloc} redirected to "
                              f"{urllib.parse.urlsplit(final).netloc}, which asks for credentials: "
                              f"not sent there", registry=ref.host)
        return status, answer, body
