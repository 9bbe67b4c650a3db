"""The host's fault matrix: every fault a host must ride out, and what must hold afterwards.

Each row is proven by one host-tier test, marked ``@pytest.mark.fault("<row>")``; every row ends
with the service answering POST /api/infer through Caddy with the known answer. The tier prints
the table with each row's result at the end of its run (conftest.py), and README.md carries the
same rows (a unit test keeps them in step).
"""

from __future__ import annotations

ROWS: dict[str, tuple[str, str]] = {
    "container_killed": ("the serving container killed (`docker kill`)",
                         "systemd starts it again: answers within 15 s"),
    "host_rebooted": ("the host rebooted", "answers within 30 s, no image pulled"),
    "registry_down_at_boot": ("the registry unreachable during a boot", "answers from the pre-pulled image"),
    "crash_loop": ("the active slot crash-looping (every start fails)",
                   "the start limit stops the loop within 60 s; once the cause is gone the next "
                   "updater run heals the slot"),
    "dockerd_restarted": ("dockerd restarted (as a package upgrade does)", "answers again within 30 s"),
    "killed_before_switch": ("the updater killed (SIGKILL) once the new slot passed its gates, before the switch",
                             "the old slot serves throughout; the next run completes the swap"),
    "killed_after_switch": ("the updater killed right after the switch, before its state is saved",
                            "the new slot serves; the next run repairs the state from the socket link "
                            "and stops the idle slot"),
    "killed_after_drain": ("the updater killed after the old slot was drained and stopped, before its "
                           "state is saved", "the new slot serves; the next run repairs the state"),
    "rebooted_mid_swap": ("the host rebooted while the updater drains the old slot",
                          "the slot the link names starts at boot and serves; the next run leaves one slot"),
    "registry_down_during_update": ("the registry unreachable during an update run",
                                    "nothing changes, the serving slot answers"),
    "image_health_fails": ("a new image whose /health never answers",
                           "never takes traffic (zero failed requests under load), recorded bad, not retried"),
    "image_inference_fails": ("a new image whose /health passes but POST /api/infer fails",
                              "never takes traffic (the inference gate), recorded bad, zero failed requests"),
    "stalled_pull": ("the registry stalls mid-pull (blob requests dropped, the connection left open)",
                     "the run fails as pull_failed within PULL_TIMEOUT, zero failed requests, the digest not "
                     "blamed; the next run completes the swap"),
    "disk_full_pull": ("the disk full during a pull (Docker's download folder has no space left)",
                       "the run fails as pull_failed, zero failed requests, the digest not blamed, the state "
                       "intact; with space again the next run completes the swap"),
    "key_source_down_at_boot": ("the key source (SSM GetParameter) unreachable for the first 60 s of an "
                                "instance's boot", "the key fetch retries and the slots wait (no crash loop, "
                                "nothing served without keys, no image blamed); then it answers with the "
                                "parameter's keys"),
}

RESULTS: dict[str, str] = {}    # row -> "passed" / "FAILED", filled as the tier runs


def table(results: dict[str, str] | None = None) -> str:
    """The matrix as a Markdown table; with ``results``, a result column (rows not run say so)."""
    head = "| Fault | What must hold afterwards |" + (" Result |" if results is not None else "")
    rule = "|---|---|" + ("---|" if results is not None else "")
    lines = [head, rule]
    for row, (fault, holds) in ROWS.items():
        cell = f" {results.get(row, 'not run')} |" if results is not None else ""
        lines.append(f"| {fault} | {holds} |{cell}")
    return "\n".join(lines)
