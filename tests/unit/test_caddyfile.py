"""The host's front door, image/rootfs/etc/caddy/Caddyfile, as Caddy itself reads it.

DOMAIN empty (the default; a fleet, whose ALB terminates TLS and sends plain HTTP to :80): :80
serves the API, as it always did. DOMAIN set (a single instance with its own name): :443 serves
it for that name with HSTS, and :80 only redirects to https://DOMAIN, whatever the Host (an IP
address too), except the ACME HTTP-01 challenge path.

- `caddy adapt` with DOMAIN unset, empty (what systemd's EnvironmentFile gives from
  `DOMAIN=`) and set: the JSON, walked the way Caddy runs routes (`run_routes`), says what each
  port does with a request.
- The real `caddy run` in a network namespace made here (loopback only: it binds :80 and :443
  without touching this machine's ports, and nothing it sends can leave), in a mount namespace of
  its own whose /var/lib/inference/active.sock is a symlink to a tiny upstream's socket, as on a
  host; curl from inside the namespace.

Caddy here is the distribution's (Debian 12 and Ubuntu 24.04: 2.6.2), what the hosts run.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from inferctl.paths import IMAGE_DIR

CADDYFILE = IMAGE_DIR / "rootfs" / "etc" / "caddy" / "Caddyfile"
DOMAIN = "svc.example.test"
SOCKET = "unix//var/lib/inference/active.sock"
HSTS = "max-age=31536000"
CHALLENGE = "/.well-known/acme-challenge/x"
IP = "10.0.0.5"  # the instance's address as a client would type it (adapt tests: no socket)
BAKED_ISSUER = re.search(r"^TLS_ISSUER=(\S+)$", (IMAGE_DIR / "rootfs/etc/inference/defaults.env").read_text(),
                         re.M).group(1)

needs_caddy = pytest.mark.skipif(shutil.which("caddy") is None,
                                 reason="caddy is not installed (apt-get install caddy; the hosts run Debian's)")


def caddy_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment Caddy gets on a host (the baked defaults.env's TLS_ISSUER), no DOMAIN from
    this machine's, its files under `home`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOMAIN", "TLS_ISSUER")}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "TLS_ISSUER": BAKED_ISSUER, **extra})
    return env


def adapt(home: Path, domain: str | None, **extra: str) -> dict:
    """The JSON config Caddy makes of the Caddyfile, with DOMAIN unset (None) or that value."""
    env = caddy_env(home, **extra) if domain is None else caddy_env(home, DOMAIN=domain, **extra)
    proc = subprocess.run(["caddy", "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


# --- the adapted config, walked --------------------------------------------------------------

RESPONDERS = {"static_response", "reverse_proxy"}  # handlers that answer (they call no next one)


def matches(match_sets: list[dict] | None, request: dict) -> bool:
    """Caddy's route matching: any of the sets, every matcher of a set. Only the matchers this
    Caddyfile uses are known here: any other fails the test rather than being misread."""
    if not match_sets:
        return True

    def one(name: str, value) -> bool:
        if name == "protocol":
            assert value in ("http", "https"), value
            return request["scheme"] == value
        if name == "host":
            return request["host"].lower() in [h.lower() for h in value]
        if name == "path":
            return any(request["path"].startswith(p[:-1]) if p.endswith("*") else request["path"] == p
                       for p in value)
        if name == "expression":
            # {$DOMAIN} is replaced in the text before Caddy parses it: a string literal is left
            literal = re.fullmatch(r"'([^']*)' (!=|==) ''", value)
            assert literal, f"expression this walker cannot evaluate: {value!r}"
            return (literal[1] != "") == (literal[2] == "!=")
        raise AssertionError(f"matcher this walker does not know: {name}: {value!r}")

    return any(all(one(name, value) for name, value in match_set.items()) for match_set in match_sets)


def run_routes(routes: list[dict], request: dict) -> tuple[list[dict], bool]:
    """The handlers Caddy runs for `request`, in order, and whether the chain ended: routes run in
    order; of the routes sharing a group only the first that matches; a subroute runs its own
    list; a responder or a terminal route ends it (else Caddy answers an empty 200)."""
    ran: list[dict] = []
    groups: set[str] = set()
    for route in routes:
        group = route.get("group")
        if (group and group in groups) or not matches(route.get("match"), request):
            continue
        if group:
            groups.add(group)
        for handler in route.get("handle", []):
            if handler["handler"] == "subroute":
                inner, ended = run_routes(handler.get("routes", []), request)
                ran += inner
                if ended:
                    return ran, True
            else:
                ran.append(handler)
                if handler["handler"] in RESPONDERS:
                    return ran, True
        if route.get("terminal"):
            return ran, True
    return ran, False


def server_on(config: dict, port: int) -> dict:
    servers = [s for s in config["apps"]["http"]["servers"].values() if f":{port}" in s["listen"]]
    assert len(servers) == 1, f"servers on :{port}: {servers}"
    return servers[0]


def handled(config: dict, port: int, host: str, path: str) -> list[dict]:
    scheme = "https" if port == 443 else "http"
    ran, _ = run_routes(server_on(config, port)["routes"], {"scheme": scheme, "host": host, "path": path})
    return ran


def hsts(handlers: list[dict]) -> list[str]:
    return [value for h in handlers if h["handler"] == "headers"
            for value in h.get("response", {}).get("set", {}).get("Strict-Transport-Security", [])]


def assert_proxies(handlers: list[dict]) -> None:
    """The chain ends in today's upstream: the swapped socket, keep-alive off, dials retried."""
    assert handlers and handlers[-1]["handler"] == "reverse_proxy", handlers
    proxy = handlers[-1]
    assert [u["dial"] for u in proxy["upstreams"]] == [SOCKET]
    assert proxy["transport"] == {"protocol": "http", "keep_alive": {"enabled": False}}
    assert proxy["load_balancing"] == {"try_duration": 5_000_000_000, "try_interval": 100_000_000}


@needs_caddy
@pytest.mark.parametrize("domain", [None, ""], ids=["unset", "empty"])
def test_without_domain_port_80_serves_everything(tmp_path, domain):
    config = adapt(tmp_path, domain)
    listen = [a for s in config["apps"]["http"]["servers"].values() for a in s["listen"]]
    assert listen == [":80"], "nothing but plain HTTP on :80 (the ALB terminates TLS)"
    for host in (IP, DOMAIN, "10.0.1.9:80"):
        for path in ("/api/infer", "/health", CHALLENGE):
            ran = handled(config, 80, host, path)
            assert_proxies(ran)
            assert not hsts(ran), "no HSTS over plain HTTP"
    assert not certificate_subjects(config), "no certificate is asked for without a domain"


def certificate_subjects(config: dict) -> list[str]:
    """The names Caddy gets certificates for: the TLS connection policies' and the sites' hosts
    on servers that listen for TLS (automatic HTTPS)."""
    return [host for server in config["apps"]["http"]["servers"].values() if ":443" in server["listen"]
            for route in server.get("routes", []) for match in route.get("match", []) for host in match.get("host", [])]


@needs_caddy
@pytest.mark.parametrize("issuer", [None, "acme", "internal"])
def test_the_issuer_and_the_storage_the_certificate_store_keeps(tmp_path, issuer):
    """TLS_ISSUER picks the issuer (Let's Encrypt by default, Caddy's own CA on request); the
    storage is named (host_programs/test_certstore.py holds it to the folder the store keeps)."""
    config = adapt(tmp_path, DOMAIN, **({"TLS_ISSUER": issuer} if issuer else {}))
    assert certificate_subjects(config) == [DOMAIN]
    assert config["apps"]["tls"]["automation"]["policies"] == [{"issuers": [{"module": issuer or "acme"}]}]
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False
    assert config["storage"] == {"module": "file_system", "root": "/var/lib/caddy/.local/share/caddy"}


@needs_caddy
@pytest.mark.parametrize("host", [IP, DOMAIN, f"{DOMAIN}:80", "other.example.test"])
def test_with_domain_port_80_only_redirects(tmp_path, host):
    config = adapt(tmp_path, DOMAIN)
    for path in ("/api/infer", "/health", "/"):
        ran = handled(config, 80, host, path)
        assert ran and ran[-1]["handler"] == "static_response", f"{host}{path}: {ran}"
        answer = ran[-1]
        assert str(answer["status_code"]) == "308", answer
        assert answer["headers"]["Location"] == [f"https://{DOMAIN}{{http.request.uri}}"]
        assert not any(h["handler"] == "reverse_proxy" for h in ran)
    # and Caddy puts no HTTP->HTTPS route of its own ahead of these (it adds one at start for
    # DOMAIN's Host only, which `caddy adapt` does not show)
    assert server_on(config, 80).get("automatic_https", {}).get("disable_redirects") is True


@needs_caddy
def test_with_domain_the_challenge_path_is_not_redirected(tmp_path):
    """Caddy answers its own ACME HTTP-01 challenges before any route; the route for that path
    answers a plain 404 (not the API, not a redirect)."""
    config = adapt(tmp_path, DOMAIN)
    for host in (IP, DOMAIN):
        ran = handled(config, 80, host, CHALLENGE)
        assert [h["handler"] for h in ran] == ["static_response"], ran
        assert str(ran[0]["status_code"]) == "404" and "headers" not in ran[0], ran


@needs_caddy
def test_with_domain_https_proxies_with_hsts(tmp_path):
    config = adapt(tmp_path, DOMAIN)
    for path in ("/api/infer", "/health", CHALLENGE):
        ran = handled(config, 443, DOMAIN, path)
        assert_proxies(ran)
        assert hsts(ran) == [HSTS], "HSTS for a year, without includeSubDomains or preload"


@needs_caddy
@pytest.mark.parametrize("domain", [None, DOMAIN])
def test_admin_socket_and_credential_free_log_kept(tmp_path, domain):
    config = adapt(tmp_path, domain)
    assert config["admin"] == {"listen": "unix//run/caddy/admin.sock"}
    logs = config["logging"]["logs"]
    access = [log for log in logs.values() if any(i.startswith("http.log.access") for i in log.get("include", []))]
    assert len(access) == 1 and access[0]["writer"] == {"output": "stdout"}
    encoder = access[0]["encoder"]
    assert encoder["format"] == "filter" and encoder["wrap"] == {"format": "json"}
    assert encoder["fields"] == {f"request>headers>{name}": {"filter": "delete"}
                                 for name in ("X-Api-Key", "Authorization", "Cookie")}
    for server in config["apps"]["http"]["servers"].values():
        assert server.get("logs"), f"a server without the access log: {server['listen']}"


# --- the real Caddy in a network namespace ---------------------------------------------------

# Run by `ip netns exec NS unshare --mount --propagation private bash -c START`: in a mount
# namespace of its own (gone with its last process, Caddy), tmpfs over /run (the admin socket's
# /run/caddy) and /var/lib, where active.sock is a symlink to the upstream's socket, as on a host.
START = """set -euo pipefail
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0755 /run/caddy
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mkdir -m 0755 /var/lib/inference
ln -s "$UPSTREAM" /var/lib/inference/active.sock
exec caddy run --config "$CONFIG"
"""


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)
        body = f"upstream {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # a unix socket's client has no address to log


class Upstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Stands in for the active slot: answers `upstream <path>` and records what reached it."""

    daemon_threads = True

    def __init__(self, path: str):
        self.seen: list[str] = []
        super().__init__(path, UpstreamHandler)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class FrontDoor:
    netns: str
    upstream: Upstream
    process: subprocess.Popen
    log: Path

    def curl(self, *args: str) -> Response:
        """curl inside the namespace (redirects not followed); a curl failure fails the test."""
        proc = subprocess.run(["ip", "netns", "exec", self.netns, "curl", "-sS", "-i", "--max-time", "10", *args],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"curl {args}: {proc.stderr}\n{self.log_tail()}"
        head, _, body = proc.stdout.replace("\r\n", "\n").partition("\n\n")
        status_line, *lines = head.splitlines()
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        return Response(int(status_line.split()[1]), headers, body)

    def curl_rc(self, *args: str) -> int:
        return subprocess.run(["ip", "netns", "exec", self.netns, "curl", "-s", "-o", "/dev/null",
                               "--max-time", "5", *args], capture_output=True, timeout=30).returncode

    def https(self, path: str, *args: str) -> Response:
        return self.curl("-k", "--resolve", f"{DOMAIN}:443:127.0.0.1", *args, f"https://{DOMAIN}{path}")

    def log_tail(self) -> str:
        return "caddy's log:\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])

    def wait(self, ready, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"caddy exited ({self.process.returncode})\n{self.log_tail()}"
            if ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"caddy: {what} not within {timeout}s\n{self.log_tail()}")


@pytest.fixture
def front_door(tmp_path):
    """start(domain) -> FrontDoor: the real `caddy run` of the Caddyfile in a network namespace
    with loopback only. With a domain, the certificate comes from Caddy's internal CA
    (TLS_ISSUER=internal, as on the local region). Everything is undone at teardown, also on
    failure."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a network namespace and tmpfs mounts for Caddy on :80/:443")
    missing = [tool for tool in ("caddy", "ip", "unshare", "curl") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (caddy: apt-get install caddy)")
    doors: list[FrontDoor] = []
    cleanups = []
    # A unix socket path is at most 107 bytes: tmp_path can be longer than that.
    sockets = tempfile.mkdtemp(prefix="caddy-up-")
    cleanups.append(lambda: shutil.rmtree(sockets, ignore_errors=True))

    def start(domain: str) -> FrontDoor:
        n = len(doors)
        home = tmp_path / f"caddy{n}"
        home.mkdir()
        config = adapt(home, domain, TLS_ISSUER="internal")
        (home / "caddy.json").write_text(json.dumps(config))
        upstream = Upstream(os.path.join(sockets, f"app{n}.sock"))
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
        cleanups.append(lambda: (upstream.shutdown(), upstream.server_close()))
        netns = f"caddy-test-{os.getpid()}-{n}"
        subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
        cleanups.append(lambda: subprocess.run(["ip", "netns", "del", netns], capture_output=True))
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        log = home / "caddy.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private", "bash", "-c", START],
                env=caddy_env(home, UPSTREAM=upstream.server_address, CONFIG=str(home / "caddy.json")),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        cleanups.append(lambda: stop(process))
        door = FrontDoor(netns, upstream, process, log)
        doors.append(door)
        door.wait(lambda: door.curl_rc("http://127.0.0.1/") == 0, "serving on :80")
        if domain:
            door.wait(lambda: door.curl_rc("-k", "--resolve", f"{DOMAIN}:443:127.0.0.1", f"https://{DOMAIN}/") == 0,
                      f"a certificate for {DOMAIN} on :443")
        upstream.seen.clear()
        return door

    try:
        yield start
    finally:
        for cleanup in reversed(cleanups):
            cleanup()


def stop(process: subprocess.Popen) -> None:
    """Caddy (exec'd by ip, unshare and bash: the pid we started) and its session, nothing else."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_caddy_with_domain_redirects_plain_http_and_serves_https_with_hsts(front_door):
    door = front_door(DOMAIN)
    for host in ([], ["-H", f"Host: {DOMAIN}"], ["-H", "Host: other.example.test"]):
        answer = door.curl(*host, "http://127.0.0.1/api/infer?x=1")
        assert (answer.status, answer.headers.get("location")) == (308, f"https://{DOMAIN}/api/infer?x=1"), \
            f"http://127.0.0.1 {host}: {answer}"
    challenge = door.curl(f"http://127.0.0.1{CHALLENGE}")
    assert challenge.status == 404 and "location" not in challenge.headers
    assert door.upstream.seen == [], "plain HTTP reached the API"

    served = door.https("/api/infer")
    assert (served.status, served.body) == (200, "upstream /api/infer")
    assert served.headers.get("strict-transport-security") == HSTS
    assert door.upstream.seen == ["/api/infer"]


def test_caddy_without_domain_serves_plain_http_as_before(front_door):
    door = front_door("")
    for path in ("/", "/api/infer", CHALLENGE):
        answer = door.curl(f"http://127.0.0.1{path}")
        assert (answer.status, answer.body) == (200, f"upstream {path}")
        assert "strict-transport-security" not in answer.headers
    assert door.curl_rc("-k", "https://127.0.0.1/") == 7, "something listens on :443 without a domain"
