"""Packages, units and their properties, the running container, the front proxy."""

import json
import re

import pytest

PACKAGES = ["docker.io", "amazon-ecr-credential-helper", "caddy", "unattended-upgrades", "curl", "python3"]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_installed(host, name):
    assert host.package(name).is_installed


@pytest.mark.parametrize("unit", ["docker.service", "containerd.service", "caddy.service"])
def test_service_enabled_and_running(host, unit):
    service = host.service(unit)
    assert service.is_enabled, f"{unit} is not enabled"
    assert service.is_running, f"{unit} is not running"


def test_only_active_slot_enabled_and_running(host, slot):
    active = host.service(f"inference@{slot}.service")
    assert active.is_enabled and active.is_running
    other = next(s for s in ("blue", "green") if s != slot)
    assert not host.service(f"inference@{other}.service").is_enabled, f"idle slot {other} is enabled"


def _props(host, unit: str, *names: str) -> dict[str, str]:
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _seconds(value: str) -> float:
    """systemd time spans as `systemctl show` prints them (e.g. '3s', '2min', '5min 30s', 'infinity')."""
    if value == "infinity":
        return float("inf")
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(us|ms|min|s|h)", value))


def test_api_key_configured(host):
    assert host.service("inference-api-keys.service").is_enabled
    keys = host.file("/etc/inference/api-keys")
    assert keys.exists and keys.size > 0, "no API key: the app refuses to start without one"


def test_inference_unit_ordering(host, slot):
    props = _props(host, f"inference@{slot}.service", "After", "Wants", "Requires")
    for dep in ("network-online.target", "docker.service"):
        assert dep in props["After"].split(), f"not ordered after {dep}"
    assert "network-online.target" in props["Wants"].split()
    assert "docker.service" in props["Requires"].split()


def test_inference_unit_restart_limits_trip(host, slot, settings):
    props = _props(host, f"inference@{slot}.service", "Restart", "RestartUSec", "StartLimitBurst",
                   "StartLimitIntervalUSec", "TimeoutStartUSec")
    assert props["Restart"] == "on-failure"
    restart, burst = _seconds(props["RestartUSec"]), int(props["StartLimitBurst"])
    interval = _seconds(props["StartLimitIntervalUSec"])
    assert restart >= 1, "RestartSec below 1 s hammers docker"
    # A crash loop makes `burst` starts in about burst*RestartSec: inside the interval, so it trips.
    assert burst * restart < interval, f"{burst} restarts every {restart}s never trip a {interval}s window"
    assert _seconds(props["TimeoutStartUSec"]) >= float(settings.get("HEALTH_TIMEOUT", 90)) + 30


def test_container_is_the_pinned_image(host, slot, container):
    env = host.file(f"/var/lib/inference/slot-{slot}.env").content_string
    image = dict(line.split("=", 1) for line in env.split() if "=" in line)["IMAGE"]
    assert re.fullmatch(r"\S+@sha256:[0-9a-f]{64}", image), f"slot image is not digest-pinned: {image}"
    assert container["Config"]["Image"] == image
    assert container["State"]["Running"]


def test_service_gives_its_models_known_answers(host, slot):
    """The serving slot answers the known answers its image carries for its model (the built-in
    one's, or [app] known_answers): the image's own check, run in the container against the
    service's own listener (falcon_app/model/known_answers.py)."""
    result = host.run(f"docker exec inference-{slot} python -m falcon_app.model.known_answers "
                      "--url http://127.0.0.1:8000")
    assert result.rc == 0, (result.stderr or result.stdout).strip()


def test_container_runs_as_non_root(host, container):
    user = container["Config"]["User"]
    assert user and user.split(":")[0] not in ("0", "root"), f"container user is {user!r}"
    status = host.file(f"/proc/{container['State']['Pid']}/status").content_string
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    assert uid != "0", "the container's process runs as uid 0"


def test_container_confined(container):
    hc = container["HostConfig"]
    assert hc["ReadonlyRootfs"] is True
    assert hc["CapDrop"] == ["ALL"] and not hc["CapAdd"]
    assert any(opt.startswith("no-new-privileges") for opt in hc["SecurityOpt"] or [])
    assert hc["Memory"] > 0 and hc["PidsLimit"] and hc["PidsLimit"] > 0
    assert not hc["Privileged"]
    assert "/tmp" in (hc.get("Tmpfs") or {})


def test_container_published_on_loopback_only(container, slot_port):
    bindings = container["HostConfig"]["PortBindings"]
    assert bindings == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(slot_port)}]}


def test_caddy_serves_the_active_slot(host, slot):
    link = host.file("/var/lib/inference/active.sock")
    assert link.is_symlink and link.linked_to == f"/run/inference/slot-{slot}/app.sock"
    socket = host.file(link.linked_to)
    assert socket.is_socket
    folder = host.file(f"/run/inference/slot-{slot}")
    assert folder.group == "caddy" and folder.mode == 0o750, "only the container's user and Caddy enter"
    assert host.run(f"curl -sf -o /dev/null --max-time 5 --unix-socket {link.linked_to} http://slot/health").rc == 0
    assert host.run("curl -sf -o /dev/null --max-time 5 http://127.0.0.1/health").rc == 0


def test_port_80_serves_only_without_a_domain(host, settings):
    """DOMAIN empty (a fleet: its ALB sends plain HTTP to :80): :80 serves the API. DOMAIN set:
    :80 only redirects to https://DOMAIN, whatever the Host (this request's is an IP address):
    plain HTTP never reaches the API. One request to Caddy, on the host itself."""
    domain = settings.get("DOMAIN", "")
    out = host.check_output("curl -s -o /dev/null --max-time 5 -w '%{http_code} %{redirect_url}' "
                            "http://127.0.0.1/health")
    status, _, location = out.strip().partition(" ")
    if domain:
        assert (status, location) == ("308", f"https://{domain}/health"), f"DOMAIN={domain}: :80 answered {out!r}"
    else:
        assert status == "200", f"DOMAIN empty: :80 answered {out!r}"


def test_caddy_is_never_reloaded_to_switch(host):
    """The switch is the symlink: Caddy's config is static, with upstream keep-alive off."""
    caddyfile = host.file("/etc/caddy/Caddyfile").content_string
    assert "reverse_proxy unix//var/lib/inference/active.sock" in caddyfile
    assert re.search(r"keepalive\s+off", caddyfile)
    assert "import" not in caddyfile


def test_docker_daemon_settings(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["live-restore"] is True
    assert config["no-new-privileges"] is True
    # the containers' lines go to the journal (capped by journald.conf.d), which
    # inference-logship ships to CloudWatch Logs
    assert config["log-driver"] == "journald"


def test_docker_bridge_resolves_new_containers_fast(host):
    """docker.service's drop-in: a container's first connection waits 100 ms for ARP, not 1 s."""
    assert host.file("/proc/sys/net/ipv4/neigh/docker0/retrans_time_ms").content_string.strip() == "100"


def test_runtime_settings(settings, state, slot, host):
    image = settings.get("INFERENCE_IMAGE", "")
    assert image and "@" not in image and "@INFERENCE_IMAGE@" not in image, f"INFERENCE_IMAGE={image!r}"
    assert settings.get("API_KEYS_FILE") == "/etc/inference/api-keys"
    assert state["current"] and state["current"] in host.file(f"/var/lib/inference/slot-{slot}.env").content_string


def test_ecr_credential_helper_wired(host, settings):
    assert host.exists("docker-credential-ecr-login")
    config = host.file("/root/.docker/config.json")
    assert config.exists and config.mode == 0o600 and config.user == "root"
    helpers = json.loads(config.content_string).get("credHelpers", {})
    assert all(v == "ecr-login" for v in helpers.values()), helpers
    registry = settings["INFERENCE_IMAGE"].split("/", 1)[0]
    if re.fullmatch(r"\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com", registry):
        assert helpers.get(registry) == "ecr-login", f"no credential helper for {registry}"


def test_unattended_security_upgrades(host):
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    patterns = re.findall(r'Unattended-Upgrade::(?:Origins-Pattern|Allowed-Origins):: "([^"]+)";', dump)
    assert patterns and all("security" in p.lower() for p in patterns), patterns
    held = re.findall(r'Unattended-Upgrade::Package-Blacklist:: "([^"]+)";', dump)
    assert {"docker.io", "containerd", "runc"} <= set(held), f"the container runtime comes by rebake: {held}"


def test_journald_capped(host):
    conf = host.file("/etc/systemd/journald.conf.d/60-inference.conf")
    assert conf.exists and re.search(r"^SystemMaxUse=\d+[KMG]$", conf.content_string, re.M)


def test_updater_runs_from_its_timer_with_a_random_delay(host):
    if not host.file("/usr/local/sbin/inference-update").exists:
        pytest.skip("no updater in this image")
    assert host.service("inference-update.timer").is_enabled
    assert host.service("inference-update-schedule.service").is_enabled
    shown = host.check_output("systemctl show inference-update.timer -p RandomizedDelayUSec -p FixedRandomDelay")
    delay = re.search(r"RandomizedDelayUSec=(\S+)", shown).group(1)
    assert delay not in ("0", "infinity") and "FixedRandomDelay=no" in shown, shown
    assert host.file("/etc/systemd/system/inference-update.timer.d/schedule.conf").exists
    assert not host.file("/etc/cron.d/inference-update").exists, "no cron job beside the timer"


def test_updater_entry_point_finds_its_package(host):
    if not host.file("/usr/local/sbin/inference-update").exists:
        pytest.skip("no updater in this image")
    usage = host.run("/usr/local/sbin/inference-update --help")
    assert usage.rc == 0 and usage.stdout.startswith("usage: inference-update"), usage.stderr


def test_log_shipper_follows_the_settings(host):
    """inference-logship is enabled; with LOG_GROUP (inference.env) it runs, without it it has
    exited cleanly (nothing to ship to). Never failed either way."""
    service = host.service("inference-logship.service")
    assert service.is_enabled
    settings = host.run("cat /etc/inference/defaults.env /etc/inference/inference.env 2>/dev/null").stdout
    groups = re.findall(r"^LOG_GROUP=(.*)$", settings, re.M)
    props = _props(host, "inference-logship.service", "ActiveState", "Result", "NRestarts")
    if groups and groups[-1].strip():
        assert props["ActiveState"] == "active", f"LOG_GROUP={groups[-1]} but the shipper is {props}"
    else:
        assert props["ActiveState"] in ("inactive", "active") and props["Result"] == "success", props


def test_certificate_store_runs_before_caddy(host, settings):
    """inference-certstore: its restore runs before Caddy starts (Caddy wants it, never needs it)
    and has not failed; its save timer is enabled. Without DOMAIN and CERT_BUCKET both only say
    there is nothing to keep."""
    assert host.service("inference-certstore-save.timer").is_enabled
    caddy = _props(host, "caddy.service", "After", "Wants", "Requires")
    assert "inference-certstore-restore.service" in caddy["After"].split()
    assert "inference-certstore-restore.service" in caddy["Wants"].split()
    assert "inference-certstore-restore.service" not in caddy["Requires"].split()
    restore = _props(host, "inference-certstore-restore.service", "ActiveState", "Result")
    assert restore == {"ActiveState": "active", "Result": "success"}, (
        f"DOMAIN={settings.get('DOMAIN', '')!r} CERT_BUCKET={settings.get('CERT_BUCKET', '')!r}: restore {restore}")
