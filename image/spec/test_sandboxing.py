"""What may run on the host, and how confined: the whole container inventory (the two slot
containers and nothing else, each confined as inference@.service starts it) and the systemd
sandboxing of the project's services.

SANDBOX is the one statement of that sandboxing: tests/unit/test_unit_files.py holds the unit
files in image/rootfs to it, and the test below holds a host's loaded units to it.
"""

import json
import os.path

import pytest

SLOT_CONTAINERS = {"inference-blue", "inference-green"}

# Binding any of these into a container hands it the host (or its docker daemon).
HOST_BINDS = {"/", "/run", "/var/run", "/run/docker.sock", "/var/run/docker.sock", "/var/lib/docker",
              "/run/containerd", "/run/containerd/containerd.sock"}
UNCONFINED_OPTS = {"seccomp=unconfined", "apparmor=unconfined", "label=disable", "systempaths=unconfined"}
HOST_NAMESPACES = ("NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode")

# Every unit: no privilege gain, kernel and clock out of reach, private /tmp (image/README.md says why).
COMMON = {
    "NoNewPrivileges": "yes", "RestrictSUIDSGID": "yes", "RestrictRealtime": "yes",
    "RestrictNamespaces": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "ProtectClock": "yes",
    "ProtectHostname": "yes", "PrivateTmp": "yes",
}
AS_ROOT = {"User": ""}   # `systemctl show -p User` of a unit without User=
FILE_ACCESS = {"cap_dac_override", "cap_dac_read_search", "cap_fowner"}
NET = {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
# Per unit, as `systemctl show` prints it; sets are compared as sets (an empty ReadWritePaths=
# set means none). SystemCallFilter: True = an allow-list is set.
SANDBOX = {
    "inference-update.service": {
        **COMMON, **AS_ROOT, "ProtectSystem": "strict", "ProtectHome": "read-only",
        "ReadWritePaths": {"/var/lib/inference", "/etc/systemd/system/inference-update.timer.d", "/run/lock",
                           "-/root/.ecr", "-/root/.cache/ecr"},
        "RestrictAddressFamilies": NET, "CapabilityBoundingSet": FILE_ACCESS, "SystemCallFilter": False,
    },
    "inference-update-schedule.service": {
        **COMMON, **AS_ROOT, "ProtectSystem": "strict", "ProtectHome": "yes",
        "ReadWritePaths": {"/etc/systemd/system/inference-update.timer.d", "/run/lock"},
        "RestrictAddressFamilies": {"AF_UNIX"}, "CapabilityBoundingSet": FILE_ACCESS, "SystemCallFilter": False,
    },
    "inference-api-keys.service": {
        **COMMON, **AS_ROOT, "ProtectSystem": "strict", "ProtectHome": "yes", "ReadWritePaths": {"/etc/inference"},
        "RestrictAddressFamilies": NET, "CapabilityBoundingSet": FILE_ACCESS | {"cap_chown"},
        "SystemCallFilter": True,
    },
    # root without capabilities: the journal's files are root's; its state is a StateDirectory=
    "inference-logship.service": {
        **COMMON, **AS_ROOT, "ProtectSystem": "strict", "ProtectHome": "yes", "ReadWritePaths": set(),
        "RestrictAddressFamilies": NET, "CapabilityBoundingSet": set(), "SystemCallFilter": True,
    },
    # Caddy's user, no capabilities: restore writes Caddy's storage, save only reads it; the
    # manifest is a StateDirectory=
    "inference-certstore-restore.service": {
        **COMMON, "User": "caddy", "ProtectSystem": "strict", "ProtectHome": "yes", "ReadWritePaths": {"/var/lib/caddy"},
        "RestrictAddressFamilies": NET - {"AF_NETLINK"}, "CapabilityBoundingSet": set(), "SystemCallFilter": True,
    },
    "inference-certstore-save.service": {
        **COMMON, "User": "caddy", "ProtectSystem": "strict", "ProtectHome": "yes", "ReadWritePaths": set(),
        "RestrictAddressFamilies": NET - {"AF_NETLINK"}, "CapabilityBoundingSet": set(), "SystemCallFilter": True,
    },
    "inference@.service": {
        **COMMON, **AS_ROOT, "ProtectSystem": "full", "ProtectHome": "read-only", "ReadWritePaths": set(),
        "RestrictAddressFamilies": NET, "CapabilityBoundingSet": FILE_ACCESS | {"cap_chown"},
        "SystemCallFilter": False,
    },
}
# "native" as systemd reports it (it may name the machine's architecture instead)
NATIVE_ARCHS = {"native", "x86-64", "arm64"}
# Calls an allow-list must never let through (none is in systemd's @system-service).
PRIVILEGED_CALLS = {"mount", "reboot", "kexec_load", "init_module", "swapon", "ptrace"}


# -- the container inventory -------------------------------------------------------------------
@pytest.fixture(scope="module")
def inventory(host) -> list[dict]:
    """`docker inspect` of every container on the host, running or not."""
    ids = host.check_output("docker ps --all --quiet --no-trunc").split()
    if not ids:
        return []
    result = host.run("docker inspect " + " ".join(ids))
    # one that went away between the two commands (a --rm slot stopping) is no longer there
    gone = all("No such" in line for line in result.stderr.strip().splitlines())
    assert result.rc == 0 or gone, f"docker inspect failed: {result.stderr}"
    return json.loads(result.stdout or "[]")


def _name(container: dict) -> str:
    return container["Name"].lstrip("/")


def test_only_the_slot_containers_exist(inventory, slot):
    names = {_name(c) for c in inventory}
    assert f"inference-{slot}" in names, f"the listing misses the active slot's container: {sorted(names)}"
    others = [f"{_name(c)} (image {c['Config'].get('Image')}, {c['State'].get('Status')})"
              for c in inventory if _name(c) not in SLOT_CONTAINERS]
    assert not others, f"containers other than {sorted(SLOT_CONTAINERS)}: {'; '.join(others)}"


def confinement_problems(container: dict) -> list[str]:
    """What in this container's `docker inspect` breaks the confinement inference@.service sets
    (--cap-drop ALL, no-new-privileges, --read-only, a non-root --user, 127.0.0.1 ports)."""
    hc, config = container["HostConfig"], container["Config"]
    problems = []
    if hc.get("Privileged"):
        problems.append("Privileged=true")
    if hc.get("CapAdd"):
        problems.append(f"CapAdd={hc['CapAdd']}")
    if "ALL" not in {cap.upper() for cap in hc.get("CapDrop") or []}:
        problems.append(f"CapDrop={hc.get('CapDrop')} (not ALL)")
    for key in HOST_NAMESPACES:
        if hc.get(key) == "host":
            problems.append(f"{key}=host")
    if hc.get("Devices") or hc.get("DeviceCgroupRules"):
        problems.append(f"Devices={hc.get('Devices')} DeviceCgroupRules={hc.get('DeviceCgroupRules')}")
    if not hc.get("ReadonlyRootfs"):
        problems.append("ReadonlyRootfs=false")
    options = [opt.replace(":", "=", 1) for opt in hc.get("SecurityOpt") or []]
    if not {"no-new-privileges", "no-new-privileges=true"} & set(options):
        problems.append(f"SecurityOpt={hc.get('SecurityOpt')} (no no-new-privileges)")
    if UNCONFINED_OPTS & set(options):
        problems.append(f"SecurityOpt has {sorted(UNCONFINED_OPTS & set(options))}")
    user = config.get("User") or ""
    if user.split(":")[0] in ("", "0", "root"):
        problems.append(f"User={user!r} (root)")
    for mount in container.get("Mounts") or []:
        source = os.path.normpath(mount.get("Source") or "/")
        if mount.get("Type") == "bind" and source in HOST_BINDS:
            problems.append(f"bind mount of {source} at {mount.get('Destination')}")
    for port, bindings in (hc.get("PortBindings") or {}).items():
        for binding in bindings or []:
            if binding.get("HostIp") != "127.0.0.1":
                problems.append(f"port {port} published on {binding.get('HostIp') or 'every address'}:"
                                f"{binding.get('HostPort')}")
    if hc.get("PublishAllPorts"):
        problems.append("PublishAllPorts=true (every exposed port, on every address)")
    return problems


def test_every_container_is_confined(inventory):
    found = [f"{_name(c)}: {problem}" for c in inventory for problem in confinement_problems(c)]
    assert not found, "containers less confined than inference@.service makes them:\n" + "\n".join(found)


# -- the services' sandboxing ------------------------------------------------------------
def _show(host, unit: str, names) -> dict[str, str]:
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def sandbox_problems(unit: str, shown: dict[str, str], wanted: dict) -> list[str]:
    """Where a unit's properties (`systemctl show`) fall short of ``wanted``."""
    problems = []
    for name, want in wanted.items():
        value = shown.get(name)
        if value is None:
            problems.append(f"{unit}: {name} not shown")
        elif name == "SystemCallFilter":
            allowed = set(value.split())
            if want and (not allowed or value.startswith("~") or allowed & PRIVILEGED_CALLS):
                problems.append(f"{unit}: SystemCallFilter is not an allow-list without "
                                f"{sorted(PRIVILEGED_CALLS)}: {value[:80]!r}")
        elif isinstance(want, set):
            got = set((value.lower() if name == "CapabilityBoundingSet" else value).split())
            if name == "RestrictAddressFamilies" and value.startswith("~"):
                got = {"~ (a deny-list)"}
            if got != want:
                problems.append(f"{unit}: {name}={value!r}, want {' '.join(sorted(want)) or 'none'}")
        elif value != want and not (name == "SystemCallArchitectures" and value in NATIVE_ARCHS):
            problems.append(f"{unit}: {name}={value}, want {want}")
    return problems


def test_services_are_sandboxed(host):
    units = [u for u in SANDBOX if u != "inference@.service"] + ["inference@blue.service", "inference@green.service"]
    if not host.file("/usr/local/sbin/inference-update").exists:   # an image without the updater
        units = [u for u in units if not u.startswith("inference-update")]
    found, scores = [], []
    for unit in units:
        wanted = SANDBOX["inference@.service" if unit.startswith("inference@") else unit]
        shown = _show(host, unit, ["LoadState", *wanted])
        if shown.get("LoadState") != "loaded":
            found.append(f"{unit}: LoadState={shown.get('LoadState')}")
            continue
        found += sandbox_problems(unit, shown, wanted)
        # systemd's own exposure score, printed (pytest -rP) and never asserted: its weights are
        # generic (it counts root, the host network and docker's socket against every unit here)
        score = host.run(f"SYSTEMD_COLORS=0 LC_ALL=C systemd-analyze security --no-pager {unit} | tail -n 1")
        if "exposure" in score.stdout:
            scores.append(score.stdout.strip())
    print("\n".join(scores))
    assert not found, ("services less sandboxed than their unit files say:\n" + "\n".join(found)
                       + "\n" + "\n".join(scores))
