"""gunicorn settings, all from the environment: `gunicorn -c python:falcon_app.gunicorn_conf`.

WORKER_CLASS picks the app flavour: `asgi` (gunicorn's own ASGI worker with the
falcon.asgi app; the default because it measured fastest here, see README) or `sync` /
`gthread` (the WSGI app). Works on a read-only root filesystem: the worker heartbeat
files go to /dev/shm (or /tmp), the control socket is off, logs go to stdout.
"""

import os
import shutil
from pathlib import Path

WORKER_CLASSES = {"asgi": "falcon_app.asgi:app", "sync": "falcon_app.wsgi:app", "gthread": "falcon_app.wsgi:app"}


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SystemExit(f"{name}={raw!r}: expected a whole number >= {minimum}")
    return int(raw)


worker_class = os.environ.get("WORKER_CLASS", "asgi").strip() or "asgi"
if worker_class not in WORKER_CLASSES:
    raise SystemExit(f"WORKER_CLASS={worker_class!r}: use one of {', '.join(WORKER_CLASSES)}")
wsgi_app = WORKER_CLASSES[worker_class]
# BIND: one or more addresses, comma-separated (e.g. "0.0.0.0:8000,unix:/run/slot/app.sock").
bind = [a.strip() for a in os.environ.get("BIND", "").split(",") if a.strip()] or [f"0.0.0.0:{_env_int('PORT', 8000)}"]
workers = _env_int("WEB_CONCURRENCY", 2)
threads = _env_int("THREADS", 4 if worker_class == "gthread" else 1)
timeout = _env_int("TIMEOUT", 30)       # also bounds a worker's model load: raise it for big models
graceful_timeout = _env_int("GRACEFUL_TIMEOUT", 20)
keepalive = _env_int("KEEPALIVE", 5)
max_requests = _env_int("MAX_REQUESTS", 0, minimum=0)          # 0: never recycle workers
max_requests_jitter = _env_int("MAX_REQUESTS_JITTER", 0, minimum=0)
# Load settings and model once in the master (a bad model stops startup at once); each
# worker then reloads the model after the fork (see ForkSafePredictor).
preload_app = os.environ.get("PRELOAD", "true").strip().lower() not in ("0", "false", "no", "off")
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
# Where workers publish their counts so /metrics can sum them (this master's own folder;
# the workers inherit the variable).
METRICS_DIR = Path(os.environ.setdefault("METRICS_DIR", f"{worker_tmp_dir}/falcon_app-metrics-{os.getpid()}"))
asgi_loop = os.environ.get("ASGI_LOOP", "auto").strip() or "auto"   # auto: uvloop when installed
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = None                 # the app writes one JSON access line per request
loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"
logger_class = "falcon_app.logs.GunicornLogger"   # JSON lines; gunicorn's own access log off


def post_fork(server, worker):
    """Load this worker's own model before it takes requests (so /ready is true at once)."""
    from falcon_app import entry

    if entry.PREDICTOR is not None:
        entry.PREDICTOR.load()


def child_exit(server, worker):
    """Keep an exited worker's counts in the metrics sum (counters must not go down)."""
    from falcon_app import metrics

    try:
        metrics.archive(METRICS_DIR, worker.pid)
    except Exception:       # raised from a hook, it would stop the master; the file stays counted
        server.log.exception("could not archive the metrics of worker %s", worker.pid)


def on_exit(server):
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
