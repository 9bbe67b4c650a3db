"""Seconds from push to serving, and failed requests during the swap: the updater vs a plain restart.

Both methods run on the same provisioned local host, against the same local registry, under the
same bounded load (GET / through Caddy from this machine), measured the same way:
  t0 = push of a new image to the tracked tag starts;
  updater: its timer's service is started (the timer firing right after the push);
  plain:   systemctl stop the serving slot; docker pull; systemctl start it (what the seed's cron job did);
  serving = the first GET / reporting the new version.
Plus the updater's run time when the digest is unchanged (no pull), and a series of --swaps
consecutive updater swaps (two images, alternately) under the same load with keep-alive clients
(each keeps one connection open) and new-connection clients side by side: failed requests, and
p99 latency of the requests sent during the swaps against p99 of a steady phase just before them.

    sudo .venv/bin/python benchmarks/update_bench.py [--rounds 2] [--swaps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inferctl import app_image  # noqa: E402
from inferctl.load import Load  # noqa: E402
from inferctl.local import netns, provision, registry  # noqa: E402
from inferctl.local import updater_rig as rig  # noqa: E402

HOST = "inferctl-bench-host"
TAG = "update-bench"


def trigger(host, method: str, pinned: str) -> None:
    if method == "updater":
        run = rig.run_as_timer(host)
        if run.code:
            raise RuntimeError(f"updater run failed (exit {run.code}): {run.stderr.strip()}")
    else:
        rig.plain_restart(host, pinned)


def one_update(host, key: str, version: str, method: str) -> dict:
    image = rig.variant(version)
    with Load(f"http://{host.address}/", workers=2, max_requests=50_000, max_seconds=300,
              headers={"X-API-Key": key}) as load, ThreadPoolExecutor(1) as pool:
        time.sleep(1)
        started = time.monotonic()
        pinned = rig.push(image, TAG)
        pushed = time.monotonic() - started
        job = pool.submit(trigger, host, method, pinned)  # serving is seen while it still drains
        waited = rig.wait_version(host, key, version, timeout=300)
        serving = time.monotonic() - started if waited is not None else float("nan")
        job.result()
        time.sleep(1)
    result = load.result
    return {"method": method, "push": pushed, "serving": serving, "requests": result.requests,
            "failed": result.failed, "failures": result.failures[:3], "p99": result.latency(0.99),
            "max": result.latency(1)}


def swap_series(host, key: str, swaps: int, stamp: int) -> None:
    """``swaps`` updater swaps back to back under load, after 15 s of the same load without any."""
    images = [rig.variant(f"bench-{stamp}-swap-{n}") for n in (0, 1)]
    rig.push(images[0], TAG)
    trigger(host, "updater", "")
    url, headers = f"http://{host.address}/", {"X-API-Key": key}
    bound = {"max_requests": 2_000_000, "max_seconds": 60 + 40 * swaps}
    with Load(url, workers=2, keepalive=True, headers=headers, **bound) as kept, \
            Load(url, workers=1, headers=headers, **bound) as fresh:
        time.sleep(15)
        steady, windows = [(1.0, kept.clock())], []
        for n in range(swaps):
            start = kept.clock()
            rig.push(images[(n + 1) % 2], TAG)
            run = rig.run_as_timer(host)
            if run.code:
                raise RuntimeError(f"swap {n + 1}: updater run failed (exit {run.code}): {run.stderr.strip()}")
            windows.append((start, kept.clock()))
        time.sleep(1)
    print(f"\n{swaps} swaps in {windows[-1][1] - windows[0][0]:.0f}s (steady phase {steady[0][1] - 1:.0f}s before them)")
    print(f"{'clients':22} {'requests':>9} {'failed':>7} {'p99 steady (ms)':>16} {'p99 swapping (ms)':>18} {'ratio':>6}")
    for name, load in (("keep-alive (2)", kept), ("new connection (1)", fresh)):
        result = load.result
        calm, busy = result.latency(0.99, steady), result.latency(0.99, windows)
        print(f"{name:22} {result.requests:>9} {result.failed:>7} {calm * 1000:>16.1f} {busy * 1000:>18.1f} "
              f"{busy / calm if calm else float('nan'):>6.2f}  {result.failures[:3] or ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="updates per method (default 2; 0 skips)")
    parser.add_argument("--swaps", type=int, default=20, help="swaps in the back-to-back series (default 20; 0 skips)")
    args = parser.parse_args()
    registry_was_up = registry.is_up()
    base = app_image.build(provision.APP_BUILD_TAG, extra_ca=app_image.host_ca_bundle()).ref
    host = rig.updater_host(HOST, TAG, base)
    try:
        key = rig.api_key(host)
        stamp = int(time.time())
        results = []
        for method in ("updater", "plain"):
            for n in range(args.rounds):
                result = one_update(host, key, f"bench-{stamp}-{method}-{n}", method)
                results.append(result)
                print(f"{method:8} round {n + 1}: push {result['push']:.2f}s, push->serving "
                      f"{result['serving']:.2f}s, {result['requests']} requests, {result['failed']} failed, "
                      f"latency p99 {result['p99']:.3f}s max {result['max']:.3f}s {result['failures'] or ''}",
                      flush=True)
        rig.run_updater(host, "run")  # the updater adopts what the plain restarts left
        unchanged = [rig.run_updater(host, "run") for _ in range(5)]
        assert all(r.last().get("event") == "unchanged" for r in unchanged), [r.records for r in unchanged]
        print()
        print(f"{'method':10} {'push->serving (median s)':>25} {'failed requests':>16} {'requests':>9} "
              f"{'worst latency (s)':>18}")
        for method in ("updater", "plain") if results else ():
            mine = [r for r in results if r["method"] == method]
            print(f"{method:10} {statistics.median(r['serving'] for r in mine):>25.2f} "
                  f"{sum(r['failed'] for r in mine):>16} {sum(r['requests'] for r in mine):>9} "
                  f"{max(r['max'] for r in mine):>18.3f}")
        print(f"unchanged digest run (HEAD only, no pull), median of 5 incl. nsenter: "
              f"{statistics.median(r.seconds for r in unchanged):.3f}s")
        if args.swaps:
            swap_series(host, key, args.swaps, stamp)
    finally:
        host.down()
        netns.teardown_if_idle()
        if not registry_was_up:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
