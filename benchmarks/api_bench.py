#!/usr/bin/env python3
"""Throughput and latency of the API under wrk, side by side with an Express equivalent.

Starts each contender on a free 127.0.0.1 port in turn (gunicorn with the asgi worker,
gunicorn with the sync worker, node cluster running benchmarks/express/server.js; two
workers each, all writing their JSON access log to a file), then runs wrk at a fixed
connection count for a fixed time against GET /health and POST /api/infer. With
--rounds N the contenders take turns N times and the median round is reported, which
evens out other load on the machine. Prints req/s, p50 and p99 and the ratio to Express.

    .venv/bin/python benchmarks/api_bench.py --duration 10 --connections 50
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inferctl.app_serve import free_port, running, wait_healthy  # noqa: E402
from inferctl.errors import UserError  # noqa: E402
from inferctl.shell import require  # noqa: E402

EXPRESS = REPO / "benchmarks" / "express"
INFER_LUA = REPO / "benchmarks" / "infer.lua"
KEY = "bench-key-0123456789abcdef"
ENDPOINTS = {"GET /health": ("/health", None), "POST /api/infer": ("/api/infer", INFER_LUA)}
CONTENDERS = ("asgi", "sync", "express")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@contextmanager
def express(workers: int, log: Path):
    node = require("node")
    if not (EXPRESS / "node_modules" / "express").is_dir():
        subprocess.run([require("npm"), "ci", "--no-audit", "--no-fund", "--silent"], cwd=EXPRESS, check=True)
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([node, "server.js"], cwd=EXPRESS, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PORT=str(port), WORKERS=str(workers), API_KEYS=KEY))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextmanager
def serve(contender: str, workers: int, logdir: Path):
    log = logdir / f"{contender}.log"
    if contender == "express":
        with express(workers, log) as url:
            yield url
    else:
        with running(workers=workers, worker_class=contender, log=log, API_KEYS=KEY) as (url, _):
            yield url


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise UserError(f"cannot read wrk latency {value!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def wrk(url: str, script: Path | None, connections: int, duration: int, threads: int, *,
        key: str = KEY, prefix: tuple[str, ...] = ()) -> dict:
    """One wrk run (``prefix``: a command to run it under, e.g. ``ip netns exec NAME``)."""
    cmd = [*prefix, require("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
           "--timeout", "5s"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True,
                         env=dict(os.environ, API_KEY=key), timeout=duration + 30).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
            "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
            "bad": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1).strip() if errors else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="turns per contender; the median is shown")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma list of asgi, sync, express")
    args = parser.parse_args()
    contenders = [c for c in args.contenders.split(",") if c]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown or not 1 <= args.duration <= 120 or not 1 <= args.connections <= 1000 or not 1 <= args.rounds <= 10:
        parser.error(f"contenders from {CONTENDERS}; duration 1-120 s; connections 1-1000; rounds 1-10")
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="api-bench-") as logdir:
            for round_no in range(args.rounds):
                for contender in contenders:
                    with serve(contender, args.workers, Path(logdir)) as url:
                        for name, (path, script) in ENDPOINTS.items():
                            wrk(url + path, script, args.connections, 1, args.threads)     # warm-up
                            result = wrk(url + path, script, args.connections, args.duration, args.threads)
                            results.setdefault((contender, name), []).append(result)
                            print(f"round {round_no + 1}: {contender:8} {name:16} {result['rps']:9.0f} req/s  "
                                  f"p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms", flush=True)
                    time.sleep(1)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\n{args.connections} connections, {args.duration} s, {args.workers} workers each, wrk -t{args.threads}, "
          f"median of {args.rounds} round(s); {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")
    print(f"{'server':10} {'endpoint':16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs express':>10} {'non-2xx':>8}")
    for name in ENDPOINTS:
        base = results.get(("express", name))
        base_rps = statistics.median(r["rps"] for r in base) if base else None
        for contender in contenders:
            runs = sorted(results[(contender, name)], key=lambda r: r["rps"])
            mid = runs[len(runs) // 2]
            ratio = f"{mid['rps'] / base_rps:9.2f}x" if base_rps else "         -"
            print(f"{contender:10} {name:16} {mid['rps']:9.0f} {mid['p50']:8.2f} {mid['p99']:8.2f} {ratio} "
                  f"{sum(r['bad'] for r in runs):8d}")
    failed = [k for k, runs in results.items() if any(r["bad"] or r["socket_errors"] for r in runs)]
    if failed:
        print(f"errors during the runs (non-2xx or socket errors): {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    sys.exit(main())
