"""The updater's registry client over real HTTP on loopback.

- a small stdlib server that challenges like ECR (Basic) or like token registries (Bearer), to
  test the auth flows and their errors;
- Debian's docker-registry with auth disabled, to prove the HEAD + Accept headers return the
  digest of exactly what the tag points at (a manifest, or an OCI index), with no docker needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inferctl.health import wait_for_200
from inference_host.config import Paths
from inference_host.errors import UpdateError
from inference_host.registry import Reference, Registry
from inference_host.updater import Updater

DIGEST = "sha256:" + "ab" * 32
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def paths_for(tmp_path, docker_config=None, daemon=None):
    if docker_config is not None:
        (tmp_path / "config.json").write_text(json.dumps(docker_config))
    if daemon is not None:
        (tmp_path / "daemon.json").write_text(json.dumps(daemon))
    return Paths(etc=tmp_path, var=tmp_path, lock=tmp_path / "lock", daemon_json=tmp_path / "daemon.json",
                 docker_config=tmp_path / "config.json", timer_dropin=tmp_path / "schedule.conf")


class Helper:
    """Fake `docker-credential-*` runner: records stdin, answers with what the test set."""

    def __init__(self, code=0, user="AWS", secret="token-1", stderr=""):
        self.code, self.user, self.secret, self.stderr = code, user, secret, stderr
        self.calls = []

    def __call__(self, argv, input=None, timeout=None):
        self.calls.append((argv, input))
        if self.code:
            return self.code, "", self.stderr
        return 0, json.dumps({"ServerURL": input, "Username": self.user, "Secret": self.secret}), ""


class Server:
    """Loopback HTTP server answering every request with `route(method, path, headers)`, which
    returns (code, [(header, value)], body); records (method, path, headers)."""

    def __init__(self, route=None):
        self.route = route or (lambda method, path, headers: (404, [], b""))
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                outer.requests.append((self.command, self.path, dict(self.headers)))
                code, headers, body = outer.route(self.command, self.path, self.headers)
                self.send_response(code)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.host = self.url.removeprefix("http://")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authorizations(self):
        return [headers.get("Authorization") for _, _, headers in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AuthRegistry(Server):
    """/v2/app/manifests/stable behind a Basic (like ECR) or Bearer (token registries) challenge."""

    def __init__(self, mode, user="AWS", secret="token-1"):
        self.mode, self.basic = mode, "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        super().__init__(self._route)
        self.port = self.server.server_address[1]

    def _route(self, method, path, headers):
        if method == "GET":
            if path.startswith("/token"):
                ok = headers.get("Authorization") == self.basic
                return 200 if ok else 401, [], json.dumps({"token": "t0k"}).encode()
            return 404, [], b""
        wanted = self.basic if self.mode == "basic" else "Bearer t0k"
        if headers.get("Authorization") != wanted:
            realm = f"http://127.0.0.1:{self.port}/token"
            challenge = ('Basic realm="https://x/",service="ecr.amazonaws.com"' if self.mode == "basic"
                         else f'Bearer realm="{realm}",service="reg",scope="repository:app:pull"')
            return 401, [("WWW-Authenticate", challenge)], b""
        return 200, [("Docker-Content-Digest", DIGEST)], b""


def ref(port):
    return Reference.parse(f"127.0.0.1:{port}/app:stable")


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_challenge_answered_with_helper_credentials(tmp_path, mode):
    helper = Helper()
    with AuthRegistry(mode) as server:
        host = f"127.0.0.1:{server.port}"
        registry = Registry(paths_for(tmp_path, {"credHelpers": {host: "ecr-login"}}), helper)
        assert registry.digest(ref(server.port)) == DIGEST
    assert helper.calls == [(["docker-credential-ecr-login", "get"], host)]
    accepts = server.requests[0][2]["Accept"]
    assert "application/vnd.oci.image.index.v1+json" in accepts
    assert "application/vnd.docker.distribution.manifest.list.v2+json" in accepts
    if mode == "bearer":
        token_request = next(r for r in server.requests if r[1].startswith("/token"))
        assert "service=reg" in token_request[1] and "scope=repository%3Aapp%3Apull" in token_request[1]


def test_static_auths_entry_is_used(tmp_path):
    with AuthRegistry("basic", user="u", secret="p:w") as server:
        auth = base64.b64encode(b"u:p:w").decode()
        config = {"auths": {f"127.0.0.1:{server.port}": {"auth": auth}}}
        assert Registry(paths_for(tmp_path, config)).digest(ref(server.port)) == DIGEST


def test_expired_credentials_are_a_clear_error(tmp_path):
    with AuthRegistry("basic") as server:
        helper = Helper(secret="expired")
        registry = Registry(paths_for(tmp_path, {"credsStore": "ecr-login"}), helper)
        with pytest.raises(UpdateError, match="rejected the credentials") as exc:
            registry.digest(ref(server.port))
    assert exc.value.event == "auth_error"


def test_missing_credentials_are_a_clear_error(tmp_path):
    with AuthRegistry("basic") as server:
        with pytest.raises(UpdateError, match="needs credentials and none are configured"):
            Registry(paths_for(tmp_path)).digest(ref(server.port))
    with AuthRegistry("bearer") as server:
        with pytest.raises(UpdateError, match="answered HTTP 401; no credentials configured"):
            Registry(paths_for(tmp_path)).digest(ref(server.port))


def test_credential_helper_failure_is_reported_with_its_message(tmp_path):
    message = "error getting credentials - err: exit status 1, out: `no EC2 IMDS role found`"
    registry = Registry(paths_for(tmp_path), Helper(code=1, stderr=message))
    with pytest.raises(UpdateError, match="docker-credential-ecr-login get failed .*no EC2 IMDS role"):
        registry.credentials(ECR)  # ECR hosts use ecr-login even without a credHelpers entry
    missing = Registry(paths_for(tmp_path), Helper(code=127))
    with pytest.raises(UpdateError, match="docker-credential-ecr-login is not installed"):
        missing.credentials(ECR)


def test_end_to_end_auth_error_fails_the_run_without_changes(tmp_path):
    (tmp_path / "defaults.env").write_text(f"INFERENCE_IMAGE={ECR}/inference:stable\n")
    paths = paths_for(tmp_path)
    calls, records = [], []

    def runner(argv, input=None, timeout=None):
        calls.append(argv)
        return 1, "", "credentials expired"

    class Ecr(Registry):  # the real ECR host needs the internet: answer its challenge locally
        def _request(self, method, url, headers, ref):
            if "Authorization" not in headers:
                return 401, {"WWW-Authenticate": 'Basic realm="https://x/"'}, b""
            raise AssertionError("no credentials should have been sent")

    updater = Updater(paths, runner=runner, registry=Ecr(paths, runner),
                      log=lambda event, level="info", **f: records.append((event, level, f)))
    assert updater.update() == 1
    assert [c for c in calls if c[0] != "systemd-analyze"] == [["docker-credential-ecr-login", "get"]], \
        "no pull, no systemctl"
    assert records[-1][0:2] == ("auth_error", "error") and "credentials expired" in records[-1][2]["reason"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_registry_down_and_dns_failure_are_unreachable(tmp_path, monkeypatch):
    registry = Registry(paths_for(tmp_path), timeout=2)
    with pytest.raises(UpdateError, match="cannot reach 127.0.0.1:.*refused") as exc:
        registry.digest(ref(free_port()))
    assert exc.value.event == "registry_unreachable"

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(UpdateError, match="cannot reach registry.example.com.*Name or service not known"):
        registry.digest(Reference.parse("registry.example.com/app:stable"))


def test_scheme_from_insecure_registries(tmp_path):
    registry = Registry(paths_for(tmp_path, daemon={"insecure-registries": ["10.99.0.1:5000", "10.50.0.0/16"]}))
    assert registry.insecure("10.99.0.1:5000")
    assert registry.insecure("10.50.3.4:443")
    assert registry.insecure("127.0.0.1:5000") and registry.insecure("localhost:5000")
    assert not registry.insecure("10.99.0.1:6000")
    assert not registry.insecure(ECR)


# --- the real registry ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_registry(tmp_path_factory):
    """Debian's docker-registry on a free loopback port, auth disabled, storage in tmp."""
    binary = shutil.which("docker-registry")
    if not binary:
        pytest.skip("docker-registry is not installed (python3 -m inferctl.bootstrap installs it)")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        waited = wait_for_200(f"http://127.0.0.1:{port}/v2/", 15, interval=0.1, request_timeout=1,
                              give_up=lambda: "exited" if proc.poll() is not None else None)
        if waited.seconds is None:
            proc.terminate()
            raise RuntimeError(f"docker-registry did not start ({waited.last}): {proc.communicate(timeout=10)[1]!r}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def put(url, body, content_type):
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers


def push_blob(port, name, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"http://127.0.0.1:{port}/v2/{name}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start, timeout=10) as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = f"http://127.0.0.1:{port}{location}"
    put(f"{location}{'&' if '?' in location else '?'}digest={digest}", data, "application/octet-stream")
    return {"digest": digest, "size": len(data)}


def push_manifest(port, name, tag, payload, media_type):
    body = json.dumps(payload, indent=3).encode()  # unusual formatting: the digest is of these bytes
    status, headers = put(f"http://127.0.0.1:{port}/v2/{name}/manifests/{tag}", body, media_type)
    assert status == 201
    return "sha256:" + hashlib.sha256(body).hexdigest()


def image_manifest(port, name, version):
    config = push_blob(port, name, json.dumps({"architecture": "amd64", "os": "linux",
                                               "config": {"Env": [f"VERSION={version}"]},
                                               "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    layer = push_blob(port, name, f"layer {version}".encode())
    media = "application/vnd.oci.image.manifest.v1+json"
    return media, {"schemaVersion": 2, "mediaType": media,
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]}


def test_head_digest_against_docker_registry(tmp_path, real_registry):
    port, name = real_registry, "team/inference"
    registry = Registry(paths_for(tmp_path))
    tracked = Reference.parse(f"127.0.0.1:{port}/{name}:stable")
    with pytest.raises(UpdateError, match="does not exist in the registry"):
        registry.digest(tracked)

    media, manifest = image_manifest(port, name, "v2")
    v2 = push_manifest(port, name, "stable", manifest, media)
    assert registry.digest(tracked) == v2

    media, manifest = image_manifest(port, name, "v3")
    v3 = push_manifest(port, name, "v3", manifest, media)
    index_type = "application/vnd.oci.image.index.v1+json"
    index = {"schemaVersion": 2, "mediaType": index_type,
             "manifests": [{"mediaType": media, "digest": v3, "size": len(json.dumps(manifest, indent=3)),
                            "platform": {"architecture": "amd64", "os": "linux"}}]}
    moved = push_manifest(port, name, "stable", index, index_type)
    assert registry.digest(tracked) == moved != v3, "the tag's own (index) digest, not a child's"
    assert registry.digest(Reference.parse(f"127.0.0.1:{port}/{name}:v3")) == v3


def test_updater_run_against_docker_registry_makes_no_pull_when_unchanged(tmp_path, real_registry):
    """check/run with the real HEAD request: same digest twice -> the second run does nothing."""
    port, name = real_registry, "solo"
    media, manifest = image_manifest(port, name, "v1")
    digest = push_manifest(port, name, "stable", manifest, media)
    (tmp_path / "defaults.env").write_text(f"INFERENCE_IMAGE=127.0.0.1:{port}/{name}:stable\n")
    (tmp_path / "state.json").write_text(json.dumps({"active_slot": "blue", "current": digest}))
    calls, records = [], []

    def runner(argv, **kw):
        calls.append(argv)
        if argv[-1] == "inference@green.service":     # the idle slot: stopped and disabled
            return (3, "inactive\n", "") if argv[1] == "is-active" else (1, "disabled\n", "")
        return 0, "active\n", ""
    updater = Updater(paths_for(tmp_path), runner=runner,
                      probe=lambda port: True, log=lambda event, level="info", **f: records.append(event))
    started = time.monotonic()
    assert updater.update() == 0
    print(f"unchanged run against docker-registry: {time.monotonic() - started:.3f}s")
    probes = [c for c in calls if c[0] != "systemd-analyze" and c[1] in ("is-active", "pull", "start", "stop")]
    assert probes == [["systemctl", "is-active", "inference@green.service"],
                      ["systemctl", "is-active", "inference@blue.service"]] and records[-1] == "unchanged"
