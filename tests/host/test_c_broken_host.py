"""Test the tests: each deliberate defect makes exactly its matching spec tests fail."""

import json

import pytest

from inferctl.hostspec.runner import run_spec


def _wait_active(host, unit):
    host.exec(f"for i in $(seq 100); do systemctl is-active --quiet {unit} && exit 0; sleep 0.2; done; exit 1")


def sshd_enabled(host):
    host.exec("ssh-keygen -A && systemctl unmask ssh.service ssh.socket && systemctl enable --now ssh.service")

    def undo():
        host.exec("systemctl disable --now ssh.service && systemctl mask ssh.service ssh.socket "
                  "&& rm -f /etc/ssh/ssh_host_*")
    return undo


def container_as_root(host):
    host.exec("echo CONTAINER_USER=0:0 >> /etc/inference/inference.env && systemctl restart inference@blue")

    def undo():
        host.exec("sed -i '/^CONTAINER_USER=0:0$/d' /etc/inference/inference.env && systemctl restart inference@blue")
    return undo


def privileged_extra_container(host):
    """A container beside the slots, privileged, made from the pinned image (created, never started)."""
    host.exec("docker create --name debug-shell --privileged "
              "\"$(sed -n 's/^IMAGE=//p' /var/lib/inference/slot-blue.env)\" >/dev/null")
    return lambda: host.exec(["docker", "rm", "--force", "debug-shell"])


def unsandboxed_updater(host):
    """A drop-in that lifts the updater's read-only file system."""
    host.exec("mkdir -p /etc/systemd/system/inference-update.service.d && printf '[Service]\\nProtectSystem=no\\n' "
              "> /etc/systemd/system/inference-update.service.d/zz-defect.conf && systemctl daemon-reload")

    def undo():
        host.exec("rm -rf /etc/systemd/system/inference-update.service.d && systemctl daemon-reload")
    return undo


def leftover_machine_id(host):
    """As if cleanup had not emptied it: the id predates the image's cleanup."""
    info = json.loads(host.exec(["cat", "/etc/inference/image-info.json"]).stdout)
    original = host.exec(["stat", "-c", "%Y", "/etc/machine-id"]).stdout.strip()
    host.exec(["touch", "-d", f"@{int(info['cleaned_at']) - 3600}", "/etc/machine-id"])
    return lambda: host.exec(["touch", "-d", f"@{original}", "/etc/machine-id"])


DEFECTS = {
    # sshd cannot run without host keys, so their test fails too.
    "sshd_enabled": (sshd_enabled, {"test_ssh_server_disabled_and_masked", "test_nothing_listens_but_caddy",
                                    "test_no_baked_host_keys"}),
    # the inventory check sees the same container: root is one of its ways out
    "container_as_root": (container_as_root, {"test_container_runs_as_non_root", "test_every_container_is_confined"}),
    "privileged_extra_container": (privileged_extra_container, {"test_only_the_slot_containers_exist",
                                                                "test_every_container_is_confined"}),
    "unsandboxed_updater": (unsandboxed_updater, {"test_services_are_sandboxed"}),
    "leftover_machine_id": (leftover_machine_id, {"test_machine_id_generated_on_this_host"}),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_defect_fails_exactly_its_tests(live_host, tmp_path, defect):
    breaks, expected = DEFECTS[defect]
    undo = breaks(live_host)
    try:
        result = run_spec(live_host.nspawn_url, "live", tmp_path / "spec.xml", quiet=True)
    finally:
        undo()
        _wait_active(live_host, "inference@blue")
    assert not result.passed
    assert set(result.failed) == expected, result.summary()
