"""The local hosts' network: a bridge on this machine plus one network namespace per guest.

Layout (all inside 10.99.0.0/24):
- bridge ``inf-br0`` on this machine holds 10.99.0.1/24 (the "host side": the local registry
  listens there, and guests reach this machine there);
- each guest gets a namespace ``/run/netns/<name>`` and a veth pair: ``inf-v<N>`` on this machine
  (a port of the bridge) and ``eth0`` inside the namespace with 10.99.0.<N>/24, default route via
  10.99.0.1. N starts at 2, so a fleet uses .2, .3, .4, ...
- a guest may instead be given an address of its own (the private IP the local AWS region gave
  its instance, e.g. 10.20.0.37): ``eth0`` then holds that address as a /32 with 10.99.0.1 as its
  on-link gateway, this machine routes that one address into the bridge (with the same NAT and
  forward rules as the /24, for that /32), and the rest of the instance's subnet is fenced
  (``fence``): unreachable, so traffic for an address whose host is gone fails here instead of
  leaving by this machine's default route.
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
    """One guest's place on the local network: ``index`` names its veth, ``own_address`` (if set)
    replaces 10.99.0.<index>."""

    name: str
    index: int
    own_address: str = ""

    @property
    def address(self) -> str:
        return self.own_address or str(SUBNET.network_address + self.index)

    @property
    def prefix(self) -> str:
        """The address with the prefix length eth0 holds."""
        return f"{self.own_address}/32" if self.own_address else f"{self.address}/{SUBNET.prefixlen}"

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


def _own_rules(address: str) -> list[tuple[str, str, list[str]]]:
    """RULES for a guest with an address of its own (outside the bridge's /24)."""
    return [("nat", "POSTROUTING", ["-s", f"{address}/32", "!", "-d", str(SUBNET), "-j", "MASQUERADE"]),
            ("filter", "FORWARD", ["-s", f"{address}/32", "-j", "ACCEPT"]),
            ("filter", "FORWARD", ["-d", f"{address}/32", "-j", "ACCEPT"])]


def _guests_file() -> Path:
    return _net_dir() / "guests.json"


def _guests() -> dict[str, dict]:
    """name -> {"index": N, "address": own address or ""}."""
    file = _guests_file()
    raw = json.loads(file.read_text()) if file.exists() else {}
    # A record from before guests had own addresses held the index alone.
    return {name: entry if isinstance(entry, dict) else {"index": entry, "address": ""}
            for name, entry in raw.items()}


def _save_guests(guests: dict[str, dict]) -> None:
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


def _own_address(address: str) -> str:
    """Check an address given to a guest: private IPv4, outside the bridge's own /24."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise UserError(f"guest address {address!r} is not an IPv4 address") from None
    if not ip.is_private or ip.is_loopback or ip.is_link_local:
        raise UserError(f"guest address {address} is not a private address: only addresses that stay on "
                        "this machine are routed")
    if ip in SUBNET:
        raise UserError(f"guest address {address} is inside the bridge's own {SUBNET}")
    return address


def add_guest(name: str, index: int | None = None, address: str = "") -> Guest:
    """Give guest ``name`` a namespace and an address (10.99.0.<index>; next free one by default,
    or ``address``, routed as a /32). Calling it again for the same name returns the same guest
    and repairs anything missing.
    """
    if not name or "/" in name or len(name) > 32:
        raise UserError(f"bad guest name {name!r}", hint="use a short name without '/'")
    own = _own_address(address) if address else ""
    with _locked():
        _ensure_network()
        guests = _guests()
        known = guests.get(name, {})
        if index is None:
            index = known.get("index") or next(i for i in range(FIRST_GUEST, 255)
                                               if i not in {g["index"] for g in guests.values()})
        own = own or (known.get("address", "") if index == known.get("index") else "")
        for other, entry in guests.items():
            if other != name and (entry["index"] == index or (own and entry.get("address") == own)):
                raise UserError(f"address {Guest(other, entry['index'], entry.get('address', '')).address} "
                                f"or slot {index} is already used by guest {other!r}",
                                hint=f"remove it: invoke local.host-down --name {other}")
        if not FIRST_GUEST <= index < 255:
            raise UserError(f"guest index {index} is outside {FIRST_GUEST}..254")
        guest = Guest(name, index, own)
        guests[name] = {"index": index, "address": own}
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
            _ip("-n", name, "addr", "add", guest.prefix, "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        if own:
            _ip("-n", name, "route", "replace", HOST_IP, "dev", "eth0", "scope", "link")
            _ip("route", "replace", f"{own}/32", "dev", BRIDGE)
            for table, chain, rule in _own_rules(own):
                if not _rule_present(table, chain, rule):
                    run(["iptables", "-w", "-t", table, "-I", chain, "1", *rule], capture=True)
        _ip("-n", name, "route", "replace", "default", "via", HOST_IP, "dev", "eth0", "onlink")
        return guest


def restore_guest(name: str, address: str) -> Guest:
    """The guest ``name`` at ``address`` again (a host booting a second time), in its old slot."""
    known = guest(name)
    if known:
        return add_guest(name, known.index, known.own_address)
    if ipaddress.IPv4Address(address) in SUBNET:
        return add_guest(name, int(address.rsplit(".", 1)[1]))
    return add_guest(name, address=address)


def guest(name: str) -> Guest | None:
    """The recorded guest of that name, if any."""
    entry = _guests().get(name)
    return Guest(name, entry["index"], entry.get("address", "")) if entry else None


def remove_guest(name: str) -> None:
    """Delete a guest's namespace and veth (the bridge and rules stay for the others)."""
    with _locked():
        _remove_guest(name)


def _remove_guest(name: str) -> None:
    guests = _guests()
    entry = guests.pop(name, None) or {}
    if Path("/run/netns", name).exists():
        _ip("netns", "del", name, check=False)
    if entry and _link_exists(f"inf-v{entry['index']}"):
        _ip("link", "del", f"inf-v{entry['index']}", check=False)
    if entry.get("address"):
        _ip("route", "del", f"{entry['address']}/32", "dev", BRIDGE, check=False)
        for table, chain, rule in _own_rules(entry["address"]):
            while _rule_present(table, chain, rule):
                run(["iptables", "-w", "-t", table, "-D", chain, *rule], capture=True)
    _save_guests(guests)


def _fences_file() -> Path:
    return _net_dir() / "fences.json"


def fence(cidr: str) -> None:
    """Make ``cidr`` (a subnet of the local region's instances) unreachable from this machine,
    except for the /32 routes of its hosts: traffic for an address whose host is gone must
    fail here, never leave by the default route. Refuses a range this machine already routes."""
    network = ipaddress.ip_network(cidr)
    with _locked():
        fences = json.loads(_fences_file().read_text()) if _fences_file().exists() else []
        if str(network) in fences:
            return
        for line in json.loads(_ip("-j", "route", "show").stdout or "[]"):
            dst = line.get("dst", "")
            if dst in ("default", "") or line.get("type") == "unreachable":
                continue
            routed = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            if routed.overlaps(network) and not (routed.prefixlen == 32 and routed.subnet_of(network)):
                raise UserError(f"the instance subnet {network} overlaps {routed}, which this machine routes "
                                f"(dev {line.get('dev', '?')})",
                                hint="give the local stack another [network] vpc_cidr")
        _ip("route", "replace", "unreachable", str(network))
        fences.append(str(network))
        _fences_file().write_text(json.dumps(fences))


def _remove_fences() -> None:
    if _fences_file().exists():
        for cidr in json.loads(_fences_file().read_text()):
            _ip("route", "del", "unreachable", cidr, check=False)
        _fences_file().unlink()


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
        _remove_fences()
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
