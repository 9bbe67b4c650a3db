"""Hardening: file modes, sysctls, what listens, no SSH server on a live host, cleanup state."""

import json
import re

import pytest


@pytest.mark.parametrize("path, mode, user, group", [
    ("/etc/inference/defaults.env", 0o644, "root", "root"),
    ("/etc/inference/api-keys", 0o640, "root", "inference"),
    ("/etc/docker/daemon.json", 0o644, "root", "root"),
    ("/etc/caddy/Caddyfile", 0o644, "root", "root"),
    ("/etc/systemd/system/inference@.service", 0o644, "root", "root"),
    ("/usr/local/lib/inference/api-keys", 0o755, "root", "root"),
    ("/var/lib/inference", 0o755, "root", "root"),
])
def test_file_mode(host, path, mode, user, group):
    f = host.file(path)
    assert f.exists, f"{path} missing"
    assert (f.mode, f.user, f.group) == (mode, user, group), f"{path}: {oct(f.mode)} {f.user}:{f.group}"


def test_host_programs_package(host):
    """The code the updater and the key fetcher run (inference_host, imported by their entry
    points): in place, root's, readable by all, writable by root only."""
    lib = "/usr/local/lib/inference"
    package = host.file(f"{lib}/inference_host")
    assert package.is_directory, f"{lib}/inference_host missing"
    assert (package.mode, package.user, package.group) == (0o755, "root", "root")
    for module in ("__init__.py", "envfile.py", "keys.py", "updater.py", "updater_cli.py"):
        assert host.file(f"{lib}/inference_host/{module}").is_file, f"{module} missing"
    loose = host.check_output(f"find {lib} \\( ! -user root -o ! -group root -o -perm /022 -o ! -perm -004 \\) -print")
    assert not loose, f"not root's, writable by others, or not readable by all: {loose}"


def _sysctl_file(host, path):
    text = host.file(path).content_string
    return dict((k.strip(), v.strip()) for k, v in
                (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")))


def test_network_sysctls(host):
    wanted = _sysctl_file(host, "/etc/sysctl.d/60-inference-net.conf")
    assert wanted, "no network sysctls"
    wrong = {k: host.sysctl(k) for k, v in wanted.items() if str(host.sysctl(k)) != v}
    assert not wrong, f"not applied: {wrong}"


def test_kernel_sysctls(host, in_container):
    if in_container:
        pytest.skip("local host: the kernel is shared with the machine running it (not installed)")
    wanted = _sysctl_file(host, "/etc/sysctl.d/61-inference-kernel.conf")
    wrong = {k: host.sysctl(k) for k, v in wanted.items() if str(host.sysctl(k)) != v}
    assert not wrong, f"not applied: {wrong}"


def _listeners(host):
    """(proto, address, port, process) of every listening socket, from `ss`."""
    out = host.check_output("ss -H -lntup")
    found = []
    for line in out.splitlines():
        cols = line.split()
        address, _, port = cols[4].rpartition(":")
        process = re.search(r'users:\(\("([^"]+)"', line)
        found.append((cols[0], address.strip("[]"), int(port), process.group(1) if process else "?"))
    return found


def test_nothing_listens_but_caddy(host, phase):
    allowed = {("caddy", 80), ("caddy", 443)}
    if phase == "bake":
        allowed |= {("sshd", 22)}
    # DHCP clients (udp 68/546, systemd-networkd on EC2) only take replies to their own requests.
    exposed = [(proto, addr, port, proc) for proto, addr, port, proc in _listeners(host)
               if not (addr.startswith("127.") or addr == "::1")
               and (proc, port) not in allowed and proc != "amazon-ssm-agent"
               and not (proto == "udp" and port in (68, 546))]
    assert not exposed, f"listening beyond loopback: {exposed}"


@pytest.mark.live
def test_ssh_server_disabled_and_masked(host):
    for unit in ("ssh.service", "ssh.socket"):
        state = host.run(f"systemctl is-enabled {unit}").stdout.strip()
        assert state == "masked", f"{unit} is {state!r}"
    assert not host.process.filter(comm="sshd"), "sshd is running"


@pytest.mark.live
def test_machine_id_generated_on_this_host(host):
    info = json.loads(host.file("/etc/inference/image-info.json").content_string)
    machine_id = host.file("/etc/machine-id")
    assert re.fullmatch(r"[0-9a-f]{32}\n?", machine_id.content_string), "no machine-id"
    # Cleanup emptied it; a boot of the image wrote a fresh one afterwards. stat's sub-second mtime:
    # testinfra's mtime has whole seconds, and a quick reboot writes it within the cleanup's second.
    written = float(host.check_output("stat -c %.9Y /etc/machine-id"))
    assert written > info["cleaned_at"], "machine-id predates the image cleanup (baked in)"


@pytest.mark.live
def test_no_bootstrap_access_left(host):
    info = json.loads(host.file("/etc/inference/image-info.json").content_string)
    for user in ["root", *info["bootstrap_users"]]:
        home = host.user(user).home if host.user(user).exists else None
        if home:
            assert not host.file(f"{home}/.ssh/authorized_keys").exists, f"{user} has authorized_keys"
    assert not host.file("/tmp/image").exists, "the recipe upload is still in /tmp/image"


@pytest.mark.live
def test_no_baked_host_keys(host):
    if host.exists("cloud-init"):
        pytest.skip("cloud-init makes fresh host keys on first boot")
    assert not host.run("ls /etc/ssh/ssh_host_*_key").stdout.strip(), "ssh host keys baked in"
