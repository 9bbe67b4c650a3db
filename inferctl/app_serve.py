"""Run the API locally with gunicorn on 127.0.0.1, with a per-machine API key."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import health
from .errors import UserError
from .paths import CACHE_DIR, REPO, ensure

KEY_FILE = CACHE_DIR / "dev-api-key"


def dev_api_key() -> str:
    """A random key made once per machine (mode 0600) for local serving."""
    if not KEY_FILE.exists():
        ensure(KEY_FILE.parent)
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return KEY_FILE.read_text().strip()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_env(port: int, workers: int, worker_class: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers), WORKER_CLASS=worker_class)
    if "API_KEYS" not in extra and "ALLOW_ANONYMOUS" not in extra:
        env["API_KEYS_FILE"] = str(KEY_FILE)
    env.update(extra)
    return env


def gunicorn_cmd() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "python:falcon_app.gunicorn_conf"]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    def exited() -> str | None:
        return None if proc.poll() is None else f"gunicorn exited with code {proc.returncode} before {url} answered"

    waited = health.wait_for_200(f"{url}/health", timeout, interval=0.1, request_timeout=1, give_up=exited)
    if waited.seconds is None:
        raise UserError(exited() or f"{url}/health did not answer within {timeout:.0f}s (last: {waited.last})")


@contextmanager
def running(workers: int = 2, worker_class: str = "asgi", log: Path | None = None,
            port: int | None = None, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn on a free 127.0.0.1 port until the block ends: yields (base url, process)."""
    port = port or free_port()
    if "API_KEYS" not in env and "ALLOW_ANONYMOUS" not in env:
        dev_api_key()
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(gunicorn_cmd(), env=gunicorn_env(port, workers, worker_class, **env), cwd=REPO,
                            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log:
            out.close()


def run(port: int = 8000, workers: int = 2, worker_class: str = "asgi") -> None:
    """Serve in the foreground until Ctrl-C."""
    port, workers = int(port), int(workers)
    if not port_free(port):
        raise UserError(f"127.0.0.1:{port} is already in use", hint="pick another with --port")
    dev_api_key()
    print(f"serving on http://127.0.0.1:{port} ({workers} {worker_class} workers); API key in {KEY_FILE}\n"
          f"try:\n  curl -s -H \"Authorization: Bearer $(cat {KEY_FILE})\" -H 'Content-Type: application/json' \\\n"
          f"    -d '{{\"instances\": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}}' "
          f"http://127.0.0.1:{port}/api/infer\n", flush=True)
    try:
        code = subprocess.call(gunicorn_cmd(), env=gunicorn_env(port, workers, worker_class), cwd=REPO)
    except KeyboardInterrupt:
        return
    if code not in (0, -2):
        raise UserError(f"gunicorn exited with code {code}", hint="see its log lines above")
