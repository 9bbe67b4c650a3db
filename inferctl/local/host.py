"""The local stand-in for an EC2 instance: a Debian 12 rootfs booted by systemd-nspawn.

A LocalHost is a directory tree (a "disk") plus, while it runs, a systemd-nspawn process whose
container runs systemd as PID 1 inside a network namespace of its own (inferctl.local.netns):
- the disk comes from a cached debootstrap rootfs (``bare``: the stand-in for the Ubuntu base
  AMI) or from a snapshot tarball made by ``snapshot`` (the stand-in for a baked AMI);
- ``create`` unpacks it and does what EC2 + cloud-init do for a fresh instance: hostname, DNS,
  SSH host keys if missing, a bootstrap user with an SSH key (the AMI's default user, only
  used by the bake), plus the nspawn-only cgroup fix that lets Docker run inside;
- ``boot`` starts it and waits for systemd to report ``running``; ``exec`` runs commands inside
  through nsenter (no sshd needed: the local out-of-band channel); ``stop`` powers it off;
  ``down`` removes everything (process, namespace, disk, state).

Its record (STATE_DIR/hosts/<name>/host.json) lets another process (``invoke local.host-down``)
find and remove it. The disk itself lives under CACHE_DIR/hosts (it can be GBs; /run may be tmpfs).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import CACHE_DIR, STATE_DIR, ensure
from ..shell import require, run
from . import netns, rootfs
from .daemon import alive, comm, exit_reason, wait_gone, wait_named

# The bare host: what a minimal cloud image brings (systemd, sshd, cron, python3 for testinfra).
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "cron", "iproute2", "sudo",
                 "curl", "ca-certificates", "procps", "python3"]
BOOTSTRAP_USER = "admin"          # the Debian AMI's default user; Ubuntu's is "ubuntu"
DEFAULT_NAME = "inferctl-host"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# nspawn mounts the cgroup v1 hierarchies read-only; dockerd must create cgroups in them.
# A plain `remount,rw` fails with "mount point is busy", a bind remount works.
CGROUP_FIX_UNIT = "nspawn-cgroup-rw.service"
CGROUP_FIX = """\
# Local (systemd-nspawn) hosts only: make the cgroup v1 controllers writable for dockerd.
[Unit]
Description=Make cgroup controllers writable (systemd-nspawn host)
DefaultDependencies=no
Before=containerd.service docker.service sysinit.target
ConditionVirtualization=systemd-nspawn

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d"; done'

[Install]
WantedBy=sysinit.target
"""
# Units with no place in a container: the apt timers race the recipe; e2scrub_reap (e2fsprogs)
# looks for LVM snapshots a container has none of, and failed now and then when hosts booted
# side by side, leaving the host "degraded".
MASKED_UNITS = ["apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_reap.service"]


def bare_rootfs() -> Path:
    """The cached debootstrapped Debian 12 tarball (the local base AMI), made on first use."""
    return rootfs.rootfs_tar("host", BASE_PACKAGES)


@dataclass
class LocalHost:
    """One local host; ``LocalHost.create(...)`` makes a new one, ``LocalHost.load(name)`` finds it."""

    name: str
    root: str
    source: str
    address: str = ""
    nspawn_pid: int = 0

    # -- records ---------------------------------------------------------------------------
    @staticmethod
    def state_dir(name: str) -> Path:
        return STATE_DIR / "hosts" / name

    @property
    def key_path(self) -> Path:
        """Private SSH key of the bootstrap user (``ssh -i <key> admin@<address>``)."""
        return self.state_dir(self.name) / "id_ed25519"

    @property
    def ssh_url(self) -> str:
        """testinfra/packer target while sshd still runs (the bake)."""
        return f"ssh://{BOOTSTRAP_USER}@{self.address}"

    @property
    def nspawn_url(self) -> str:
        """testinfra target through nsenter (inferctl.hostspec.runner)."""
        return f"nspawn://{self.name}"

    @property
    def console_log(self) -> Path:
        return self.state_dir(self.name) / "console.log"

    def _save(self) -> None:
        file = ensure(self.state_dir(self.name)) / "host.json"
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.rename(file)

    @classmethod
    def load(cls, name: str = DEFAULT_NAME) -> LocalHost:
        file = cls.state_dir(name) / "host.json"
        if not file.exists():
            raise UserError(f"no local host named {name!r}", hint="start one: invoke local.host-up")
        return cls(**json.loads(file.read_text()))

    @classmethod
    def names(cls) -> list[str]:
        base = STATE_DIR / "hosts"
        return sorted(p.parent.name for p in base.glob("*/host.json")) if base.exists() else []

    # -- making the disk --------------------------------------------------------------------
    @classmethod
    def create(cls, name: str = DEFAULT_NAME, image: Path | None = None, *,
               index: int | None = None, address: str = "") -> LocalHost:
        """Make a fresh host disk from ``image`` (a snapshot tarball) or the bare rootfs.

        ``address``: the host's own IP (an instance's private IP), else 10.99.0.<index>.
        Refuses if a host of that name exists (``down`` it first). Does not boot it.
        """
        if (cls.state_dir(name) / "host.json").exists():
            raise UserError(f"local host {name!r} already exists",
                            hint=f"remove it first: invoke local.host-down --name {name}")
        tar = Path(image) if image else bare_rootfs()
        if not tar.is_file():
            raise UserError(f"host image {tar} does not exist", hint="bake one: invoke bake --local")
        require("systemd-nspawn")
        guest = netns.add_guest(name, index, address)
        root = CACHE_DIR / "hosts" / name / "root"
        host = cls(name=name, root=str(root), source=str(tar), address=guest.address)
        host._save()
        try:
            rootfs.unpack(tar, root)
            host._prepare()
        except BaseException:
            host.down()
            raise
        return host

    def _prepare(self) -> None:
        """What EC2 and cloud-init do for a new instance, plus the nspawn cgroup fix."""
        root = Path(self.root)
        (root / "etc/hostname").write_text(self.name + "\n")
        # What cloud-init's manage_etc_hosts does (sudo resolves the hostname): one 127.0.1.1 line.
        hosts = root / "etc/hosts"
        kept = [line for line in (hosts.read_text().splitlines() if hosts.exists() else [])
                if not line.startswith("127.0.1.1")]
        hosts.write_text("\n".join([*kept, f"127.0.1.1\t{self.name}"]) + "\n")
        resolv = root / "etc/resolv.conf"
        if resolv.is_symlink():
            resolv.unlink()
        resolv.write_text(Path("/etc/resolv.conf").read_text())
        units = root / "etc/systemd/system"
        for unit in MASKED_UNITS:
            link = units / unit
            if not link.is_symlink():
                link.unlink(missing_ok=True)
                link.symlink_to("/dev/null")
        (units / CGROUP_FIX_UNIT).write_text(CGROUP_FIX)
        wants = ensure(units / "sysinit.target.wants") / CGROUP_FIX_UNIT
        if not wants.is_symlink():
            wants.symlink_to(f"/etc/systemd/system/{CGROUP_FIX_UNIT}")
        # Like an EC2 launch: a bare image gets host keys and the key pair's user (the bake
        # connects over SSH); a baked image has sshd masked, so it gets neither.
        if (root / "usr/sbin/sshd").exists() and not _masked(root, "ssh.service"):
            if not list((root / "etc/ssh").glob("ssh_host_*_key")):
                run(["chroot", root, "ssh-keygen", "-A"], capture=True)
            self._add_bootstrap_user(root)

    def _add_bootstrap_user(self, root: Path) -> None:
        if not self.key_path.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"bootstrap@{self.name}",
                 "-f", self.key_path], capture=True)
        if run(["chroot", root, "id", BOOTSTRAP_USER], check=False, capture=True).returncode:
            run(["chroot", root, "useradd", "-m", "-s", "/bin/bash", BOOTSTRAP_USER], capture=True)
        sudoers = root / "etc/sudoers.d/90-bootstrap"
        sudoers.write_text(f"{BOOTSTRAP_USER} ALL=(ALL) NOPASSWD:ALL\n")
        sudoers.chmod(0o440)
        ssh_dir = root / "home" / BOOTSTRAP_USER / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self.key_path.with_suffix(".pub").read_text())
        keys.chmod(0o600)
        uid_gid = run(["chroot", root, "id", "-u", BOOTSTRAP_USER], capture=True).stdout.strip()
        for path in (ssh_dir, keys):
            os.chown(path, int(uid_gid), int(uid_gid))

    def authorize(self, public_key: str) -> bool:
        """What cloud-init does with an instance's key pair: the image's default user may log in
        with it. False when the image has no such login (a baked image: sshd masked, no user)."""
        keys = Path(self.root) / "home" / BOOTSTRAP_USER / ".ssh" / "authorized_keys"
        if not keys.exists():
            return False
        with open(keys, "a") as out:
            out.write(public_key.strip() + "\n")
        return True

    # -- running ----------------------------------------------------------------------------
    def running(self) -> bool:
        return self.nspawn_pid > 0 and _is_nspawn(self.nspawn_pid)

    def boot(self, timeout: float = 120.0, *, wait: bool = True) -> float:
        """Boot with systemd as PID 1 and wait until it reports ``running``; return seconds taken.

        ``wait=False`` returns as soon as nspawn is started (for callers timing the boot themselves).
        """
        if self.running():
            return 0.0
        guest = netns.restore_guest(self.name, self.address)
        argv = [require("systemd-nspawn"), "--boot", "--directory", self.root, "--machine", self.name,
                "--register=no", "--keep-unit", "--capability=all",
                "--system-call-filter=@keyring bpf", f"--network-namespace-path={guest.netns_path}",
                "--console=read-only"]
        env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="1")
        started = time.monotonic()
        with open(self.console_log, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        wait_named(proc, "systemd-nspawn")
        self.nspawn_pid = proc.pid
        self._save()
        if wait:
            self.wait_running(timeout)
        return time.monotonic() - started

    def leader(self) -> int:
        """PID (on this machine) of the guest's systemd."""
        if not self.running():
            raise UserError(f"local host {self.name!r} is not running", hint="boot it: invoke local.host-up")
        children = Path(f"/proc/{self.nspawn_pid}/task/{self.nspawn_pid}/children").read_text().split()
        for child in children:
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return int(child)
            except FileNotFoundError:
                continue
        raise UserError(f"local host {self.name!r}: systemd has not started yet")

    def wait_running(self, timeout: float = 120.0) -> str:
        """Wait until ``systemctl is-system-running`` says running; fail with the failed units."""
        deadline = time.monotonic() + timeout
        state = "not started"
        while time.monotonic() < deadline:
            if not self.running():
                raise UserError(f"local host {self.name!r} exited while booting "
                                f"(systemd-nspawn: {exit_reason(self.nspawn_pid)}): {self._console_tail()}",
                                hint=f"full console log: {self.console_log}")
            try:
                state = self.exec(["systemctl", "is-system-running"], check=False, timeout=10).stdout.strip()
            except UserError:
                state = "not started"
            if state == "running":
                return state
            if state == "degraded":
                raise UserError(f"local host {self.name!r} booted degraded: {self.failed_units()}",
                                hint=f"inspect it: invoke local.host-shell --name {self.name}")
            time.sleep(0.2)
        raise UserError(f"local host {self.name!r} not running after {timeout:.0f}s (state: {state})",
                        hint=f"console log: {self.console_log}")

    def failed_units(self, lines: int = 6) -> str:
        """The guest's failed units, each with the tail of its journal (what a degraded boot says)."""
        listed = self.exec(["systemctl", "--failed", "--plain", "--no-legend"], check=False).stdout
        names = [line.split()[0] for line in listed.splitlines() if line.strip()]
        parts = []
        for name in names:
            journal = self.exec(["journalctl", "-u", name, "-b", "-n", str(lines), "-o", "cat", "--no-pager"],
                                check=False).stdout.strip()
            parts.append(f"{name} failed: " + " | ".join(journal.splitlines()))
        return "; ".join(parts) or "(no failed unit listed)"

    def guest_argv(self, argv: list[str], *, user: str = "root", term: str = "") -> list[str]:
        """The one way into the guest: ``argv`` run in all its namespaces (nsenter into its systemd)
        as ``user``, with a clean login-like environment."""
        home = "/root" if user == "root" else f"/home/{user}"
        env = ["env", "-i", f"PATH={GUEST_PATH}", f"HOME={home}", "LANG=C.UTF-8", f"USER={user}",
               *([f"TERM={term}"] if term else [])]
        if user != "root":
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
        return ["nsenter", "-t", str(self.leader()), "-a", "--", *env, *argv]

    def exec(self, cmd: list[str] | str, *, check: bool = True, input: str | None = None,
             timeout: float | None = 600, user: str = "root") -> subprocess.CompletedProcess:
        """Run a command inside the guest (``guest_argv``); ``cmd`` is an argv list, or a string run
        by ``sh -c``. Output is captured (text)."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        proc = run(self.guest_argv(argv, user=user), check=False, capture=True, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
            raise UserError(f"on {self.name}: `{shlex.join(argv)}` failed (exit {proc.returncode}): {tail}")
        return proc

    def copy_in(self, src: Path, dest: str) -> None:
        """Copy a local directory's contents to ``dest`` inside the running guest (replacing it).

        Goes through the guest's mounts (its /tmp is a tmpfs the disk does not show).
        """
        pack = subprocess.Popen(["tar", "-C", str(src), "-cf", "-", "."], stdout=subprocess.PIPE)
        unpack = subprocess.run(self.guest_argv(["sh", "-c", f'rm -rf "{dest}" && mkdir -p "{dest}" && '
                                                       f'tar -C "{dest}" -xf -']),
                                stdin=pack.stdout, capture_output=True)
        pack.stdout.close()
        if pack.wait() or unpack.returncode:
            raise UserError(f"copying {src} to {self.name}:{dest} failed: {unpack.stderr.decode()[-300:]}")

    def stop(self, timeout: float = 30.0) -> None:
        """Power off cleanly (systemctl poweroff); kill nspawn if it has not exited in time."""
        if not self.running():
            self._forget_pid()
            return
        try:
            self.exec(["systemctl", "poweroff", "--no-block"], check=False, timeout=10)
        except UserError:
            pass
        if not wait_gone(self.nspawn_pid, timeout, lambda pid: not _is_nspawn(pid)):
            os.killpg(self.nspawn_pid, signal.SIGKILL)
            wait_gone(self.nspawn_pid, 10, lambda pid: not _is_nspawn(pid))
        self._forget_pid()

    def restart(self, timeout: float = 120.0) -> float:
        """Power off and boot again (same disk); return the boot time."""
        self.stop()
        return self.boot(timeout)

    def _forget_pid(self) -> None:
        self.nspawn_pid = 0
        if (self.state_dir(self.name) / "host.json").exists():
            self._save()

    def _console_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.console_log.read_text(errors="replace").strip().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no console log)"

    # -- images and teardown ----------------------------------------------------------------
    def snapshot(self, tar: Path) -> Path:
        """Power off and save the disk as a tarball: the local equivalent of creating an AMI."""
        self.stop()
        tar = Path(tar)
        ensure(tar.parent)
        partial = tar.with_name(tar.name + ".partial")
        run(["tar", "-C", self.root, "--numeric-owner", "--xattrs", "--xattrs-include=*",
             "-cf", partial, "."], capture=True)
        partial.rename(tar)
        return tar

    def down(self) -> None:
        """Stop it and remove everything it used: process, namespace, disk, record."""
        self.stop()
        netns.remove_guest(self.name)
        shutil.rmtree(Path(self.root).parent, ignore_errors=True)
        shutil.rmtree(self.state_dir(self.name), ignore_errors=True)
        netns.teardown_if_idle()


def _masked(root: Path, unit: str) -> bool:
    link = root / "etc/systemd/system" / unit
    return link.is_symlink() and os.readlink(link) == "/dev/null"


def _is_nspawn(pid: int) -> bool:
    """The recorded pid is still our systemd-nspawn (alive, not a recycled pid), by its task name."""
    return comm(pid) == "systemd-nspawn" and alive(pid)


def down(name: str = DEFAULT_NAME) -> bool:
    """Remove the named host if it exists (a no-op otherwise); True if there was one."""
    try:
        host = LocalHost.load(name)
    except UserError:
        netns.remove_guest(name)
        netns.teardown_if_idle()
        return False
    host.down()
    return True
