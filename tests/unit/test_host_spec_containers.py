"""The host spec's container inventory check (image/spec/test_sandboxing.py) on `docker inspect`
records: a slot container as inference@.service starts it passes, and each way out of that
confinement is named with the container and the property."""

import copy

import pytest

from inferctl.paths import IMAGE_DIR

import by_path


sandboxing = by_path.load("host_spec_sandboxing", IMAGE_DIR / "spec" / "test_sandboxing.py")

# The fields of `docker inspect inference-blue` that matter, as docker reports a container made
# by inference@.service's `docker run` (--read-only --cap-drop ALL --security-opt
# no-new-privileges --user 10001:10001 --publish 127.0.0.1:8081:8000, two bind mounts).
SLOT = {
    "Name": "/inference-blue",
    "State": {"Status": "running", "Running": True},
    "Config": {"User": "10001:10001", "Image": "registry/inference@sha256:" + "0" * 64},
    "HostConfig": {
        "Privileged": False, "CapAdd": None, "CapDrop": ["ALL"], "NetworkMode": "bridge", "PidMode": "",
        "IpcMode": "private", "UTSMode": "", "UsernsMode": "", "CgroupnsMode": "host", "Devices": [],
        "DeviceCgroupRules": None, "ReadonlyRootfs": True, "SecurityOpt": ["no-new-privileges"],
        "PortBindings": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}]}, "PublishAllPorts": False,
        "Tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
    },
    "Mounts": [
        {"Type": "bind", "Source": "/run/inference/slot-blue", "Destination": "/run/slot", "RW": True},
        {"Type": "bind", "Source": "/etc/inference/api-keys", "Destination": "/run/secrets/api-keys", "RW": False},
    ],
}


def _with(**changes):
    container = copy.deepcopy(SLOT)
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = container
        for part in parents:
            target = target[part]
        target[key] = value
    return container


def test_a_slot_container_as_the_unit_starts_it_passes():
    assert sandboxing.confinement_problems(SLOT) == []


@pytest.mark.parametrize("changes, named", [
    ({"HostConfig__Privileged": True}, "Privileged=true"),
    ({"HostConfig__CapAdd": ["NET_ADMIN"]}, "CapAdd="),
    ({"HostConfig__CapDrop": ["NET_RAW"]}, "CapDrop="),
    ({"HostConfig__NetworkMode": "host"}, "NetworkMode=host"),
    ({"HostConfig__PidMode": "host"}, "PidMode=host"),
    ({"HostConfig__IpcMode": "host"}, "IpcMode=host"),
    ({"HostConfig__UTSMode": "host"}, "UTSMode=host"),
    ({"HostConfig__UsernsMode": "host"}, "UsernsMode=host"),
    ({"HostConfig__Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]}, "Devices="),
    ({"HostConfig__ReadonlyRootfs": False}, "ReadonlyRootfs=false"),
    ({"HostConfig__SecurityOpt": None}, "no no-new-privileges"),
    ({"HostConfig__SecurityOpt": ["no-new-privileges", "seccomp=unconfined"]}, "seccomp=unconfined"),
    ({"Config__User": ""}, "(root)"),
    ({"Config__User": "0:0"}, "(root)"),
    ({"Config__User": "root"}, "(root)"),
    ({"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/d.sock"}]}, "docker.sock"),
    ({"Mounts": [{"Type": "bind", "Source": "/", "Destination": "/host"}]}, "bind mount of / "),
    ({"HostConfig__PortBindings": {"8000/tcp": [{"HostIp": "", "HostPort": "8081"}]}}, "every address"),
    ({"HostConfig__PortBindings": {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]}}, "0.0.0.0:80"),
    ({"HostConfig__PublishAllPorts": True}, "PublishAllPorts"),
])
def test_each_way_out_is_named(changes, named):
    problems = sandboxing.confinement_problems(_with(**changes))
    assert len(problems) == 1 and named in problems[0], problems


def test_the_failure_names_the_container_and_the_property():
    intruder = _with(Name="/debug-shell", HostConfig__Privileged=True)
    with pytest.raises(AssertionError, match=r"debug-shell: Privileged=true"):
        sandboxing.test_every_container_is_confined([SLOT, intruder])


def test_only_the_two_slots_may_exist():
    sandboxing.test_only_the_slot_containers_exist([SLOT, _with(Name="/inference-green")], "blue")
    with pytest.raises(AssertionError, match=r"debug-shell \(image busybox, exited\)"):
        sandboxing.test_only_the_slot_containers_exist(
            [SLOT, _with(Name="/debug-shell", Config__Image="busybox", State__Status="exited")], "blue")
    with pytest.raises(AssertionError, match="misses the active slot"):
        sandboxing.test_only_the_slot_containers_exist([], "blue")
