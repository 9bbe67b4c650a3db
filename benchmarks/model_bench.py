#!/usr/bin/env python3
"""Serving a realistic ONNX model: the predictor alone vs the API, onnxruntime threads, coalescing.

Builds examples/make_mlp.py's benchmark model (64 features, 10 classes, three hidden layers
of 512, random weights: about 2.3 MB) in a temporary folder, then measures in one run:

- predictor: OnnxPredictor in this process, one row per call, from 1, 8 and 50 threads;
- gunicorn: the API (2 asgi workers by default, on 127.0.0.1) under wrk at 1, 8 and 50
  connections, each request one row of the model's width;

both for onnxruntime intra-op threads 1 and 2 (inter-op 1), so the setting for a 2-vCPU
instance running 2 workers can be read off. "CPU ms/req" is the CPU time per request of
this process (predictor rows) or of the gunicorn master and workers (wrk not counted).

Last, the most request coalescing could give: 50 rows in one call against 50 one-row
calls, and what that saving would make of the server's CPU time per request at 50
clients (the server being CPU-bound there).

    .venv/bin/python benchmarks/model_bench.py            # about 90 seconds
    .venv/bin/python benchmarks/model_bench.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "examples")]

import make_mlp  # noqa: E402
from api_bench import KEY, wrk  # noqa: E402
from falcon_app.model.onnx_model import OnnxPredictor  # noqa: E402
from inferctl.app_serve import running  # noqa: E402
from inferctl.errors import UserError  # noqa: E402

MODEL = dict(features=64, classes=10, hidden=(512, 512, 512), epochs=0, seed=0, answers=1)
CLIENTS = (1, 8, 50)
INTRA_OP_THREADS = (1, 2)
BATCH = 50
WORTH_BUILDING = 1.5        # end-to-end gain at 50 clients that would justify coalescing
MAX_CALLS = 10_000_000      # per loop: a backstop, the time bound ends loops first


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def predictor_run(model: OnnxPredictor, row: list[float], clients: int, duration: float) -> dict:
    """`clients` threads each calling predict_proba([row]) back to back for `duration` seconds."""
    deadline = time.perf_counter() + duration

    def client(_) -> list[float]:
        latencies = []
        for _ in range(MAX_CALLS):
            start = time.perf_counter()
            model.predict_proba([row])
            end = time.perf_counter()
            latencies.append((end - start) * 1e3)
            if end >= deadline:
                break
        return latencies

    cpu, start = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(ms for one in pool.map(client, range(clients)) for ms in one)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"rps": len(latencies) / wall, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "bad": 0, "socket_errors": "", "cpu_ms": cpu / len(latencies) * 1e3}


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the gunicorn master and workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    ticks = 0
    for p in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:       # a worker that just exited
            continue
        ticks += int(fields[11]) + int(fields[12])      # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def gunicorn_runs(model_path: Path, lua: Path, intra: int, args, logdir: Path, record) -> None:
    """wrk at each client count against one server; record(clients, result with cpu_ms) per run."""
    log = logdir / f"gunicorn-intra{intra}.log"
    env = dict(MODEL_PATH=str(model_path), API_KEYS=KEY, MODEL_INTRA_OP_THREADS=str(intra),
               MODEL_INTER_OP_THREADS="1")
    try:
        with running(workers=args.workers, worker_class=args.worker_class, log=log, **env) as (url, proc):
            wrk(f"{url}/api/infer", lua, 8, 1, 2)                   # warm-up
            for clients in CLIENTS:
                cpu = tree_cpu(proc.pid)
                result = wrk(f"{url}/api/infer", lua, clients, args.duration, min(clients, 2))
                requests = max(1.0, result["rps"] * args.duration)
                record(clients, dict(result, cpu_ms=(tree_cpu(proc.pid) - cpu) / requests * 1e3))
    except UserError as exc:            # the log goes with the temporary folder: show its end
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise UserError(f"{exc}\n--- end of the gunicorn log ---\n{tail}") from None


def rows_per_second(call, rows_per_call: int, duration: float) -> tuple[float, float]:
    """(rows/s, CPU ms per row) of calling `call` back to back for `duration` seconds."""
    calls, cpu, start = 0, time.process_time(), time.perf_counter()
    while calls < MAX_CALLS:
        call()
        calls += 1
        if time.perf_counter() - start >= duration:
            break
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = calls * rows_per_call
    return rows / wall, cpu / rows * 1e3


def write_wrk_script(path: Path, row: list[float]) -> Path:
    body = json.dumps({"instances": [row]})
    path.write_text(f"-- wrk script: POST one {len(row)}-feature row to /api/infer with the key from API_KEY.\n"
                    'wrk.method = "POST"\n'
                    f"wrk.body = '{body}'\n"
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")\n')
    return path


def measure(args, tmp: Path) -> int:
    model_path, answers_path = make_mlp.build(tmp, **MODEL)
    row = json.loads(answers_path.read_text())["answers"][0]["features"]
    lua = write_wrk_script(tmp / "infer_model.lua", row)
    load_before = os.getloadavg()[0]
    results = []

    def record(path: str, intra: int, clients: int, result: dict) -> None:
        results.append((path, intra, clients, result))
        print(f"{path:9} intra {intra} clients {clients:2}: {result['rps']:8.0f} req/s  p50 {result['p50']:6.2f} ms  "
              f"p99 {result['p99']:6.2f} ms", flush=True)

    for intra in INTRA_OP_THREADS:
        model = OnnxPredictor(model_path, intra_op_threads=intra, inter_op_threads=1)
        model.predict_proba([row])                              # warm-up
        for clients in CLIENTS:
            record("predictor", intra, clients, predictor_run(model, row, clients, args.duration))
    for intra in INTRA_OP_THREADS:
        gunicorn_runs(model_path, lua, intra, args, tmp,
                      lambda clients, result, intra=intra: record("gunicorn", intra, clients, result))

    model = OnnxPredictor(model_path)
    single, single_cpu = rows_per_second(lambda: [model.predict_proba([row]) for _ in range(BATCH)], BATCH,
                                         args.duration)
    batched, batched_cpu = rows_per_second(lambda: model.predict_proba([row] * BATCH), BATCH, args.duration)

    print(f"\nmodel {model.model_id}: {MODEL['features']} features, {MODEL['classes']} classes, hidden "
          f"{','.join(map(str, MODEL['hidden']))}, {model_path.stat().st_size / 1e6:.1f} MB; {args.duration} s "
          f"per measurement; gunicorn: {args.workers} {args.worker_class} workers, wrk -t min(clients, 2); "
          f"{os.cpu_count()} CPUs, load avg {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'path':10} {'intra-op':>8} {'clients':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} "
          f"{'CPU ms/req':>10}")
    for path, intra, clients, r in results:
        print(f"{path:10} {intra:8d} {clients:7d} {r['rps']:8.0f} {r['p50']:7.2f} {r['p99']:7.2f} "
              f"{r['bad']:7d} {r['cpu_ms']:10.2f}")

    server_ms = next(r["cpu_ms"] for path, intra, clients, r in results
                     if (path, intra, clients) == ("gunicorn", 1, CLIENTS[-1]))
    saving = max(0.0, single_cpu - batched_cpu)
    bound = server_ms / max(server_ms - saving, 1e-9)
    print(f"\ncoalescing, predictor path (intra-op 1): {BATCH} one-row calls {single:,.0f} rows/s; one "
          f"{BATCH}-row call {batched:,.0f} rows/s: {batched / single:.1f}x")
    print(f"at {CLIENTS[-1]} clients the server spends {server_ms:.2f} CPU ms per request; coalescing could save "
          f"at most {saving:.2f} of them: at most {bound:.2f}x the req/s end to end")
    print(f"coalescing is worth building only if the end-to-end gain could reach {WORTH_BUILDING}x at "
          f"{CLIENTS[-1]} clients: {'it could' if bound >= WORTH_BUILDING else 'it cannot'} ({bound:.2f}x)")
    failed = [(path, intra, clients) for path, intra, clients, r in results if r["bad"] or r["socket_errors"]]
    if failed:
        print(f"errors during the runs (non-2xx or socket errors): {failed}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 s per measurement: a smoke run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="asgi", choices=("asgi", "sync", "gthread"))
    args = parser.parse_args()
    if args.quick:
        args.duration = 1
    if not 1 <= args.duration <= 120 or not 1 <= args.workers <= 16:
        parser.error("duration 1-120 s; workers 1-16")
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install -y wrk); it drives the gunicorn rows", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="model-bench-") as tmp:
            return measure(args, Path(tmp))
    except (UserError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
