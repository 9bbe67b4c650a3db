"""The local AWS region's endpoint, run as a background daemon on loopback.

The server is inferctl.region.server: moto (the control plane) with the local data plane hooked
in, so an instance whose AMI has a local disk boots as a local host (see inferctl.region).
Everything that talks to "AWS" on the local target (Terraform, bake bookkeeping, the
demo) goes through this module so they all meet the same server:

    from inferctl.local import moto
    url = moto.start()                 # idempotent: reuses a running server
    ec2 = moto.client("ec2")           # boto3 client pointed at it, fake credentials
    moto.stop()

`start(port=0)` picks a free port (or takes a configured one) and records pid, port and
log under ``STATE_DIR/moto`` so another process (or `invoke local.moto-stop`) finds it.
The server holds its state in memory: a restart forgets every resource, which
`start()` reports through `Moto.fresh` so callers can drop state that pointed at it.

`Moto(state_dir)` is the same API for a server kept apart from the default one (the
tests run their own in a temporary folder).
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import UserError
from ..paths import REPO, STATE_DIR, ensure
from .daemon import Daemon, cmdline

HOST = "127.0.0.1"
DEFAULT_REGION = "eu-west-1"
# moto accepts any key pair; fixed ones keep the account id stable (123456789012).
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SERVER_ENV = {
    # AWS-managed policies exist only with this set (tests compare the host role with one).
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    # ACM certificates turn ISSUED after this many seconds (default 60 slows every apply).
    "MOTO_ACM_VALIDATION_WAIT": "1",
}
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


SERVER_MODULE = "inferctl.region.server"
STOP_TIMEOUT = 120.0  # the region removes its hosts on the way out


def _server_argv(port: int) -> list[str]:
    """The local region's server (moto + the data plane) in the running interpreter."""
    try:
        import moto.server  # noqa: F401 - moto[server] is what the region runs on
    except ImportError:
        raise UserError("moto's server is not installed in this Python",
                        hint="install the dev dependencies: python3 -m inferctl.bootstrap") from None
    return [sys.executable, "-m", SERVER_MODULE, "-H", HOST, "-p", str(port)]


class Moto:
    """The local region's server daemon, its pid, port and log in ``state_dir``."""

    def __init__(self, state_dir: Path | None = None):
        self.state_dir = Path(state_dir) if state_dir else STATE_DIR / "moto"
        self.pid_file = self.state_dir / "moto.pid"
        self.port_file = self.state_dir / "moto.port"
        self.log_file = self.state_dir / "moto.log"
        self.daemon = Daemon("the local region's server", self.pid_file, self.log_file,
                             lambda pid: SERVER_MODULE.encode() in cmdline(pid))
        self.fresh = False  # True when the last start() launched a new (empty) server

    # --- lifecycle ------------------------------------------------------------------
    def _pid(self) -> int | None:
        return self.daemon.pid()

    def _port(self) -> int | None:
        try:
            return int(self.port_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        """True when the recorded server process is alive and answers HTTP."""
        port = self._port()
        return self._pid() is not None and port is not None and self._answers(port)

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/", timeout=5):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except (urllib.error.URLError, OSError):
            return False

    def start(self, port: int = 0, env: dict[str, str] | None = None) -> str:
        """Start the server (or reuse the running one) and return its endpoint URL.

        ``port=0`` picks a free port; a fixed port that something else holds is an error.
        ``env`` adds variables for the server (e.g. MOTO_AMIS_PATH).
        """
        if self.running():
            current = self._port()
            if port and port != current:
                raise UserError(f"moto is already running on port {current}, not {port}",
                                hint="stop it first: invoke local.moto-stop")
            self.fresh = False
            return self.endpoint_url()
        self.stop()  # clear a stale pid file or a half-dead server
        port = port or _free_port()
        if _port_in_use(port):
            raise UserError(f"port {HOST}:{port} is already in use, moto cannot bind it",
                            hint="choose another port or 0 for a free one")
        ensure(self.state_dir)
        self.port_file.write_text(str(port))
        self.daemon.start(_server_argv(port), lambda: self._answers(port), START_TIMEOUT, cwd=REPO,
                          env=dict(os.environ, **SERVER_ENV, **(env or {})))
        self.fresh = True
        return self.endpoint_url()

    def stop(self) -> bool:
        """Stop the server if it runs (it removes the hosts it launched first); return whether one
        was stopped. Idempotent."""
        stopped = self.daemon.stop(STOP_TIMEOUT)
        self.port_file.unlink(missing_ok=True)
        return stopped

    # --- clients ----------------------------------------------------------------------
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server, or a UserError saying how to start it."""
        port = self._port()
        if port is None or self._pid() is None:
            raise UserError("the local AWS endpoint (moto) is not running",
                            hint="start it: invoke local.moto-start (or deploy --local)")
        return f"http://{HOST}:{port}"

    def session(self, region: str = DEFAULT_REGION):
        """A boto3 Session with moto's fake credentials (no profile, no real account)."""
        import boto3
        return boto3.Session(region_name=region, **CREDENTIALS)

    def client(self, service: str, region: str = DEFAULT_REGION):
        """A boto3 client for ``service`` pointed at the running server."""
        return self.session(region).client(service, endpoint_url=self.endpoint_url())

    def reset(self) -> None:
        """Forget every resource in the server (moto's reset API); the server keeps running."""
        request = urllib.request.Request(f"{self.endpoint_url()}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


DEFAULT = Moto()


def start(port: int = 0, env: dict[str, str] | None = None) -> str:
    """Start (or reuse) the machine's local AWS endpoint; returns its URL. See Moto.start."""
    return DEFAULT.start(port, env)


def stop() -> bool:
    """Stop the machine's local AWS endpoint; True if one was running."""
    return DEFAULT.stop()


def running() -> bool:
    return DEFAULT.running()


def endpoint_url() -> str:
    """URL of the running local AWS endpoint, or a UserError naming how to start it."""
    return DEFAULT.endpoint_url()


def session(region: str = DEFAULT_REGION):
    return DEFAULT.session(region)


def client(service: str, region: str = DEFAULT_REGION):
    """boto3 client for ``service`` against the running local AWS endpoint."""
    return DEFAULT.client(service, region)
