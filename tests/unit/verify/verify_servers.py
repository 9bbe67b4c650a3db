"""gunicorn servers on loopback for the verify tests (always stopped)."""

import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

KEY = "verify-test-key-0123456789abcdef"
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(app: str, env: dict, cwd: Path, extra: list[str] = ()):
    """gunicorn on 127.0.0.1:<free port>; yields the base URL; always stopped."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                             *extra, app], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    scheme = "https" if extra else "http"
    context = ssl._create_unverified_context() if extra else None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/health", timeout=1, context=context)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {proc.stderr.read().decode()[-800:]}")
                time.sleep(0.1)
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
