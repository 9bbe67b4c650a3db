"""The local hosts' network: a bridge on this machine plus one network namespace per guest.

Layout (all inside 10.99.0.0/24):
- bridge ``inf-br0`` on this machine holds 10.99.0.1/24 (the "host side": the local registry
  listens there, and guests reach this machine there);
- each guest gets a namespace ``/run/netns/<name>`` and a veth pair: ``inf-v<N>`` on this machine
  (a port of the bridge) and ``eth0`` inside the namespace with 10.99.0.<N>/24, default route via
  10.99.0.1. N starts at 2, so a fleet uses .2, .3, .4, ...
- ip_forward on, plus MASQUERADE and FORWARD accept rules for that /24 only, so guests reach the
  Debian mirror through this machine.

Everything is recorded under STATE_DIR/net so another process can undo it: ``remove_guest``
removes one guest; ``teardown`` removes every guest, the bridge, the rules and restores
ip_forward; ``teardown_if_idle`` does that only when no guest and no holder (``hold``) is left.
Every step is idempotent and guarded by a lock, so calling anything twice is safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import STATE_DIR, ensure
from ..shell import run

SUBNET = ipaddress.ip_network("10.99.0.0/24")
HOST_IP = "10.99.0.1"
BRIDGE = "inf-br0"
# A bridge without an address of its own takes the lowest MAC of its ports, so it changed whenever
# a guest came or went and the other guests' ARP entries for 10.99.0.1 went stale for seconds.
BRIDGE_MAC = "02:99:00:00:00:01"
FIRST_GUEST = 2
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")

# (table, chain, rule): inserted first in the chain, removed by teardown.
RULES = [
    ("nat", "POSTROUTING", ["-s", str(SUBNET), "!", "-d", str(SUBNET), "-j", "MASQUERADE"]),
    ("filter", "FORWARD", ["-s", str(SUBNET), "-j", "ACCEPT"]),
    ("filter", "FORWARD", ["-d", str(SUBNET), "-j", "ACCEPT"]),
]


def _net_dir() -> Path:
    return ensure(STATE_DIR / "net")


@dataclass(frozen=True)
class Guest:
    """One guest's place on the local network."""

    name: str
    index: int

    @property
    def address(self) -> str:
        return str(SUBNET.network_address + self.index)

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.name

    @property
    def host_veth(self) -> str:
        return f"inf-v{self.index}"


@contextlib.contextmanager
def _locked():
    with open(_net_dir() / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ip(*args: str, check: bool = True):
    return run(["ip", *args], check=check, capture=True)


def _link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["-n", netns] if netns else []
    return _ip(*prefix, "link", "show", name, check=False).returncode == 0


def _rule_present(table: str, chain: str, rule: list[str]) -> bool:
    return run(["iptables", "-w", "-t", table, "-C", chain, *rule], check=False, capture=True).returncode == 0


def _dockerd_running() -> bool:
    return run(["pgrep", "-x", "dockerd"], check=False, capture=True).returncode == 0


def _guests_file() -> Path:
    return _net_dir() / "guests.json"


def _guests() -> dict[str, int]:
    file = _guests_file()
    return json.loads(file.read_text()) if file.exists() else {}


def _save_guests(guests: dict[str, int]) -> None:
    tmp = _guests_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(guests, indent=1, sort_keys=True))
    tmp.rename(_guests_file())


def ensure_network() -> None:
    """Create the bridge with 10.99.0.1/24, turn ip_forward on and add the NAT/forward rules."""
    with _locked():
        _ensure_network()


def _ensure_network() -> None:
    if not _link_exists(BRIDGE):
        _ip("link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge")
    if BRIDGE_MAC not in _ip("link", "show", BRIDGE).stdout:
        _ip("link", "set", BRIDGE, "address", BRIDGE_MAC)
    addrs = _ip("-j", "addr", "show", "dev", BRIDGE).stdout
    if f'"{HOST_IP}"' not in addrs:
        _ip("addr", "add", f"{HOST_IP}/{SUBNET.prefixlen}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    saved = _net_dir() / "ip_forward.orig"
    if not saved.exists():
        saved.write_text(IP_FORWARD.read_text().strip())
    IP_FORWARD.write_text("1\n")
    for table, chain, rule in RULES:
        if not _rule_present(table, chain, rule):
            run(["iptables", "-w", "-t", table, "-I", chain, "1", *rule], capture=True)


def add_guest(name: str, index: int | None = None) -> Guest:
    """Give guest ``name`` a namespace and an address (10.99.0.<index>; next free one by default).

    Calling it again for the same name returns the same guest and repairs anything missing.
    """
    if not name or "/" in name or len(name) > 32:
        raise UserError(f"bad guest name {name!r}", hint="use a short name without '/'")
    with _locked():
        _ensure_network()
        guests = _guests()
        if index is None:
            index = guests.get(name) or next(i for i in range(FIRST_GUEST, 255) if i not in guests.values())
        owner = next((n for n, i in guests.items() if i == index and n != name), None)
        if owner:
            raise UserError(f"address 10.99.0.{index} is already used by guest {owner!r}",
                            hint=f"pick another index or remove it: invoke local.host-down --name {owner}")
        if not FIRST_GUEST <= index < 255:
            raise UserError(f"guest index {index} is outside {FIRST_GUEST}..254")
        guest = Guest(name, index)
        guests[name] = index
        _save_guests(guests)
        if not guest.netns_path.exists():
            _ip("netns", "add", name)
        if not _link_exists("eth0", name):
            if _link_exists(guest.host_veth):
                _ip("link", "del", guest.host_veth)
            _ip("link", "add", guest.host_veth, "type", "veth", "peer", "name", f"inf-g{index}")
            _ip("link", "set", f"inf-g{index}", "netns", name)
            _ip("-n", name, "link", "set", f"inf-g{index}", "name", "eth0")
        _ip("link", "set", guest.host_veth, "master", BRIDGE)
        _ip("link", "set", guest.host_veth, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        if f'"{guest.address}"' not in _ip("-n", name, "-j", "addr", "show", "dev", "eth0").stdout:
            _ip("-n", name, "addr", "add", f"{guest.address}/{SUBNET.prefixlen}", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        _ip("-n", name, "route", "replace", "default", "via", HOST_IP)
        return guest


def guest(name: str) -> Guest | None:
    """The recorded guest of that name, if any."""
    index = _guests().get(name)
    return Guest(name, index) if index else None


def remove_guest(name: str) -> None:
    """Delete a guest's namespace and veth (the bridge and rules stay for the others)."""
    with _locked():
        _remove_guest(name)


def _remove_guest(name: str) -> None:
    guests = _guests()
    index = guests.pop(name, None)
    if Path("/run/netns", name).exists():
        _ip("netns", "del", name, check=False)
    if index and _link_exists(f"inf-v{index}"):
        _ip("link", "del", f"inf-v{index}", check=False)
    _save_guests(guests)


def hold(holder: str) -> None:
    """Record that ``holder`` (e.g. the registry) uses the bridge, so teardown_if_idle keeps it."""
    ensure_network()
    ensure(_net_dir() / "holders").joinpath(holder).touch()


def unhold(holder: str) -> None:
    (_net_dir() / "holders" / holder).unlink(missing_ok=True)


def teardown_if_idle() -> bool:
    """Tear the network down when no guest and no holder is left; True if it did."""
    holders = _net_dir() / "holders"
    if _guests() or (holders.exists() and any(holders.iterdir())):
        return False
    teardown()
    return True


def teardown() -> None:
    """Undo everything: every guest, the bridge, the rules; ip_forward back to what it was."""
    with _locked():
        for name in list(_guests()):
            _remove_guest(name)
        for table, chain, rule in RULES:
            while _rule_present(table, chain, rule):
                run(["iptables", "-w", "-t", table, "-D", chain, *rule], capture=True)
        if _link_exists(BRIDGE):
            _ip("link", "del", BRIDGE)
        saved = _net_dir() / "ip_forward.orig"
        if saved.exists():
            # A dockerd started meanwhile relies on forwarding: leave it on for it.
            if not _dockerd_running():
                IP_FORWARD.write_text(saved.read_text().strip() + "\n")
            saved.unlink()
        _guests_file().unlink(missing_ok=True)
        for holder in (_net_dir() / "holders").glob("*"):
            holder.unlink()
