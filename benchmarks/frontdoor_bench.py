#!/usr/bin/env python3
"""What the host's front door costs: POST /api/infer through Caddy from outside the host, side by
side with the same request sent to the container's own address from inside the host.

One provisioned local host (the image recipe, the app image from the local registry). The same
wrk (this machine's binary, same threads, connections and duration) runs, in turns:
  front door: from this machine to http://<host address>/api/infer (Caddy -> unix socket -> gunicorn);
  published:  inside the host's network namespace, to the slot's loopback port (docker-proxy);
  direct:     inside the host's network namespace, to the container's bridge address, port 8000.
  kernel DNAT: a candidate front door, not the product's: from this machine to port DNAT_PORT of the
              host, which one iptables DNAT rule in the host sends to the container's bridge address
              (the kernel switches; existing connections keep their conntrack entry). Measures what
              an L4 switch costs next to Caddy; TLS and access logs would be the app's there.
With --swaps N, then N blue/green swaps of that candidate under load from this machine (keep-alive
clients and new-connection clients side by side, GET / through DNAT_PORT): start the idle slot
(same image), replace the DNAT rule, stop the old slot (gunicorn's graceful stop); failed requests
are counted per kind of client.
With --rounds N each path runs N times and the median round is shown. Goal (issue 13): the front
door reaches at least 80 % of the direct req/s with a p99 within 1.5x.

    sudo .venv/bin/python benchmarks/frontdoor_bench.py [--duration 10] [--connections 50] [--rounds 3] [--swaps 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import INFER_LUA, wrk  # noqa: E402

from inferctl.errors import UserError  # noqa: E402
from inferctl.load import Load  # noqa: E402
from inferctl.local import netns, provision  # noqa: E402
from inferctl.local import updater_rig as rig  # noqa: E402

HOST = "inferctl-frontdoor-host"
TAG = "frontdoor-bench"
DNAT_PORT = 8088    # nothing listens there on the host; the rule lives and dies with the host


def container_address(host, slot: str) -> str:
    return host.exec(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                      f"inference-{slot}"]).stdout.strip()


def dnat_rule(host, address: str) -> list[str]:
    return ["-p", "tcp", "-d", host.address, "--dport", str(DNAT_PORT), "-j", "DNAT",
            "--to-destination", f"{address}:8000"]


def paths(host) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (URL, command prefix) of the four ways to the same container (puts the DNAT rule in
    as the first of the host's PREROUTING rules, and lets Docker forward port 8000 of any slot)."""
    slot = rig.state(host)["active_slot"]
    inside = ("ip", "netns", "exec", host.name)
    address = container_address(host, slot)
    port = host.exec(["sed", "-n", "s/^PORT=//p", f"/etc/inference/slots/{slot}.env"]).stdout.strip()
    host.exec(["iptables", "-t", "nat", "-I", "PREROUTING", "1", *dnat_rule(host, address)])
    host.exec(["iptables", "-I", "DOCKER-USER", "-p", "tcp", "--dport", "8000", "-j", "ACCEPT"])
    return {"front door": (f"http://{host.address}/api/infer", ()),
            "kernel DNAT": (f"http://{host.address}:{DNAT_PORT}/api/infer", ()),
            "published": (f"http://127.0.0.1:{port}/api/infer", inside),
            "direct": (f"http://{address}:8000/api/infer", inside)}


def dnat_swaps(host, key: str, swaps: int) -> tuple[Load, Load]:
    """``swaps`` blue/green swaps through the DNAT rule under load; the two finished loads."""
    url = f"http://{host.address}:{DNAT_PORT}/"
    bound = {"max_requests": 1_000_000, "max_seconds": 30.0 * swaps + 10, "headers": {"X-API-Key": key}}
    old = rig.state(host)["active_slot"]
    with Load(url, workers=2, keepalive=True, **bound) as kept, Load(url, workers=1, **bound) as fresh:
        time.sleep(1)
        for number in range(1, swaps + 1):
            new = "green" if old == "blue" else "blue"
            image = host.exec(["cat", f"/var/lib/inference/slot-{old}.env"]).stdout
            host.exec(["tee", f"/var/lib/inference/slot-{new}.env"], input=image)
            host.exec(["systemctl", "reset-failed", f"inference@{new}.service"])   # its start limit: 5 in 120 s
            host.exec(["systemctl", "start", f"inference@{new}.service"])      # returns once healthy
            host.exec(["iptables", "-t", "nat", "-R", "PREROUTING", "1", *dnat_rule(host, container_address(host, new))])
            host.exec(["systemctl", "stop", f"inference@{old}.service"])       # gunicorn's graceful stop
            print(f"swap {number:2}: {old} -> {new}; failed so far: keep-alive {kept.result.failed}, "
                  f"new connections {fresh.result.failed}", flush=True)
            old = new
        time.sleep(1)
    return kept, fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="turns per path; the median is shown")
    parser.add_argument("--swaps", type=int, default=0, help="then this many swaps through the DNAT rule (default 0)")
    args = parser.parse_args()
    if (not 1 <= args.duration <= 60 or not 1 <= args.connections <= 500 or not 1 <= args.rounds <= 10
            or not 0 <= args.swaps <= 50):
        parser.error("duration 1-60 s; connections 1-500; rounds 1-10; swaps 0-50")
    if os.geteuid() != 0:
        parser.error("needs root (a local host: network namespaces, systemd-nspawn)")
    results: dict[str, list[dict]] = {}
    swapped: tuple[Load, Load] | None = None
    host = None
    try:
        host = rig.updater_host(HOST, TAG, provision.APP_BUILD_TAG)
        key = rig.api_key(host)
        ways = paths(host)
        for round_no in range(args.rounds):
            for name, (url, prefix) in ways.items():
                wrk(url, INFER_LUA, args.connections, 1, args.threads, key=key, prefix=prefix)      # warm-up
                result = wrk(url, INFER_LUA, args.connections, args.duration, args.threads, key=key, prefix=prefix)
                results.setdefault(name, []).append(result)
                print(f"round {round_no + 1}: {name:11} {result['rps']:8.0f} req/s  p50 {result['p50']:6.2f} ms  "
                      f"p99 {result['p99']:6.2f} ms", flush=True)
        if args.swaps:
            swapped = dnat_swaps(host, key, args.swaps)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if host is not None:
            host.down()
        netns.teardown_if_idle()
    median = {name: sorted(runs, key=lambda r: r["rps"])[len(runs) // 2] for name, runs in results.items()}
    direct = median["direct"]
    print(f"\nPOST /api/infer, {args.connections} connections, {args.duration} s, wrk -t{args.threads}, median of "
          f"{args.rounds} round(s); {os.cpu_count()} CPUs shared by client, Caddy and the app; "
          f"load avg {os.getloadavg()[0]:.1f}")
    print(f"{'path':12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs direct':>10} {'p99 vs direct':>14} {'non-2xx':>8}")
    for name, mid in median.items():
        print(f"{name:12} {mid['rps']:8.0f} {mid['p50']:8.2f} {mid['p99']:8.2f} {mid['rps'] / direct['rps']:9.2f}x "
              f"{mid['p99'] / direct['p99']:13.2f}x {sum(r['bad'] for r in results[name]):8d}")
    front = median["front door"]
    met = front["rps"] >= 0.8 * direct["rps"] and front["p99"] <= 1.5 * direct["p99"]
    print(f"goal (front door >= 0.80x direct req/s, p99 <= 1.50x): {'met' if met else 'NOT met'}")
    if swapped:
        kept, fresh = swapped
        print(f"\n{args.swaps} swaps through the kernel DNAT candidate:\n  keep-alive clients:      "
              f"{kept.result.line()}\n  new-connection clients:  {fresh.result.line()}")
    if any(r["bad"] or r["socket_errors"] for runs in results.values() for r in runs) or (
            swapped and any(load.result.failed for load in swapped)):
        print("errors during the runs (non-2xx or socket errors)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
