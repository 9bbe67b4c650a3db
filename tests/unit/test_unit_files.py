"""The project's systemd units (image/rootfs/etc/systemd/system): systemd accepts them, and each
service carries the sandboxing the host spec asserts (image/spec/test_sandboxing.py's
SANDBOX, the one statement of it), so dropping a directive fails here before any host boots."""

import os
import shutil
import subprocess

import pytest

from inferctl.paths import IMAGE_DIR

import by_path

UNITS = IMAGE_DIR / "rootfs" / "etc" / "systemd" / "system"
SPEC = IMAGE_DIR / "spec" / "test_sandboxing.py"
HOST_UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system")


sandboxing = by_path.load("host_spec_sandboxing", SPEC)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values in order]}} as systemd reads a unit file (comments, continuation
    lines); an empty assignment is kept as "" (it resets list settings)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current, pending = None, ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _words(values: list[str]) -> list[str]:
    words: list[str] = []
    for value in values:
        words = [] if value == "" else words + value.split()
    return words


def as_shown(service: dict[str, list[str]]) -> dict[str, str]:
    """What `systemctl show` would print for the sandboxing properties of a [Service] section
    (unset booleans print "no", an unset allow-list "~", an unset bounding set every capability)."""
    shown = {}
    for name in sandboxing.COMMON:
        last = (service.get(name) or ["no"])[-1]
        shown[name] = "yes" if last in ("yes", "true", "1", "on") else last
    shown["SystemCallArchitectures"] = " ".join(_words(service.get("SystemCallArchitectures", [])))
    shown["User"] = (service.get("User") or [""])[-1]
    shown["ProtectSystem"] = (service.get("ProtectSystem") or ["no"])[-1]
    shown["ProtectHome"] = (service.get("ProtectHome") or ["no"])[-1]
    shown["ReadWritePaths"] = " ".join(_words(service.get("ReadWritePaths", [])))
    shown["RestrictAddressFamilies"] = " ".join(_words(service.get("RestrictAddressFamilies", []))) or "~"
    # unset: every capability; set, even to "" (none at all): the words left
    caps = _words(service.get("CapabilityBoundingSet", []))
    shown["CapabilityBoundingSet"] = (" ".join(caps).lower() if "CapabilityBoundingSet" in service
                                      else "(every capability)")
    shown["SystemCallFilter"] = " ".join(_words(service.get("SystemCallFilter", []))) or "~"
    return shown


def _service(unit: str) -> dict[str, list[str]]:
    return parse_unit((UNITS / unit).read_text()).get("Service", {})


def test_every_service_of_ours_is_in_the_sandboxing_statement():
    """A new one must be sandboxed and listed (its user too: root unless User= says otherwise)."""
    services = sorted(path.name for path in UNITS.glob("*.service"))
    assert services, f"no units in {UNITS}"
    assert set(services) == set(sandboxing.SANDBOX), "image/spec/test_sandboxing.py SANDBOX vs the unit files"


@pytest.mark.parametrize("unit", sorted(sandboxing.SANDBOX))
def test_service_carries_its_sandboxing(unit):
    wanted = sandboxing.SANDBOX[unit]
    problems = sandboxing.sandbox_problems(unit, as_shown(_service(unit)), wanted)
    assert not problems, "\n".join(problems)
    filtered = "SystemCallFilter" in _service(unit)
    assert filtered == wanted["SystemCallFilter"], f"{unit}: SystemCallFilter= present: {filtered}"


@pytest.mark.parametrize("directive", ["NoNewPrivileges", "ProtectSystem", "ReadWritePaths",
                                       "CapabilityBoundingSet", "RestrictAddressFamilies", "SystemCallFilter"])
def test_a_dropped_directive_is_caught(directive):
    service = _service("inference-api-keys.service")
    assert directive in service
    weakened = {key: values for key, values in service.items() if key != directive}
    unit = "inference-api-keys.service"
    problems = sandboxing.sandbox_problems(unit, as_shown(weakened), sandboxing.SANDBOX[unit])
    assert [p for p in problems if directive in p], problems


def test_the_parser_reads_continuations_and_resets():
    parsed = parse_unit("[Service]\n# c\nExecStart=/bin/a \\\n    --b\nReadWritePaths=/x\nReadWritePaths=\n"
                        "ReadWritePaths=/y /z\n")
    assert parsed["Service"]["ExecStart"] == ["/bin/a  --b"]
    assert _words(parsed["Service"]["ReadWritePaths"]) == ["/y", "/z"]


def _commands(text: str) -> set[str]:
    """The executables of a unit's Exec*= lines (prefixes such as - + ! @ : dropped)."""
    found = set()
    for key, values in parse_unit(text).get("Service", {}).items():
        if key.startswith("Exec"):
            for value in values:
                word = value.lstrip("-+!@:").split()[0] if value.strip() else ""
                if word.startswith("/"):
                    found.add(word)
    return found


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    """`systemd-analyze verify` offline, against a copy of the image's /etc plus this machine's
    own unit directory (targets such as sysinit.target) and stand-ins for the commands that
    are not in image/rootfs (docker, install, ...): any warning about our units fails."""
    analyze = shutil.which("systemd-analyze")
    host_units = next((d for d in HOST_UNIT_DIRS if os.path.isdir(d)), None)
    if not analyze or not host_units:
        pytest.skip("no systemd-analyze or systemd unit directory on this machine (apt-get install systemd)")
    root = tmp_path / "root"
    shutil.copytree(IMAGE_DIR / "rootfs", root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(host_units, root / "usr" / "lib" / "systemd" / "system", symlinks=True, dirs_exist_ok=True)
    (root / "etc" / "systemd" / "system" / "inference-update.timer.d").mkdir(exist_ok=True)   # 20-files.sh
    for unit in UNITS.iterdir():
        if unit.is_file():
            for command in _commands(unit.read_text()):
                stand_in = root / command.lstrip("/")
                if not stand_in.exists():
                    stand_in.parent.mkdir(parents=True, exist_ok=True)
                    stand_in.write_text("#!/bin/sh\n")
                    stand_in.chmod(0o755)
    names = [u.name for u in sorted(UNITS.iterdir()) if u.is_file() and not u.name.endswith("@.service")]
    names += [u.name.replace("@.", "@blue.") for u in UNITS.glob("*@.service")]
    proc = subprocess.run([analyze, "verify", "--man=no", "--generators=no", f"--root={root}", *names],
                          cwd=root / "etc" / "systemd" / "system", capture_output=True, text=True, timeout=120)
    if "--root" in proc.stderr and "unrecognized" in proc.stderr:
        pytest.skip(f"this systemd-analyze cannot verify offline: {proc.stderr.strip()}")
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "inference" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr
