"""The local region's data plane: moto's instances and images made real on this machine.

Hooked into moto's EC2 backend (``install``), so every client meets it the same way:
- RunInstances (also an Auto Scaling group's launches): an instance whose AMI has a disk
  (disks.py) is ``pending`` while a local host named after it is made from that disk at the
  instance's private IP, its user-data applied as cloud-init would, then booted; it turns
  ``running`` once systemd runs. A host that cannot boot ends ``terminated`` with the reason.
- StopInstances / StartInstances / RebootInstances: ``stopping`` until the host powered off
  (disk kept), ``pending`` until it booted again.
- TerminateInstances: the host and its disk are removed.
- CreateImage: the image stays ``pending`` until the (stopped) instance's disk is saved as the
  new AMI's disk; a running instance is stopped for it and booted again (CreateImage's default
  reboot). CopyImage: the copy shares the disk. DeregisterImage: the disk goes.
Each instance's operations run in order on a queue of its own; instances proceed in parallel.
Only instances whose AMI has a disk are touched: anything else stays a record in moto.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..local import host as local_host
from ..local import netns, user_data
from . import disks

log = logging.getLogger("inferctl.region")

# EC2 instance state codes.
PENDING, RUNNING, SHUTTING_DOWN, TERMINATED, STOPPING, STOPPED = 0, 16, 32, 48, 64, 80
NAMES = {PENDING: "pending", RUNNING: "running", SHUTTING_DOWN: "shutting-down", TERMINATED: "terminated",
         STOPPING: "stopping", STOPPED: "stopped"}
BOOT_TIMEOUT = 180.0
ASG_NAME_TAG = "aws:autoscaling:groupName"


def set_state(instance, code: int, reason: str = "") -> None:
    instance._state.name, instance._state.code = NAMES[code], code
    if reason:
        from moto.ec2.models.instances import StateReason
        instance._reason = reason
        instance.state_reason = StateReason(reason, "Server.InternalError")


def decoded_user_data(instance) -> str:
    raw = instance.user_data
    if not raw:
        return ""
    text = raw if isinstance(raw, str) else raw.as_bytes().decode()
    return base64.b64decode(text).decode()


class DataPlane:
    """What a launch, stop, start, terminate or image call does on this machine."""

    def __init__(self, guest_setup=None):
        """``guest_setup(host, instance)`` adds what the region gives every instance (metadata
        service, endpoint) before it boots."""
        self.guest_setup = guest_setup
        self._queues: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self.launched_here: set[str] = set()  # other regions (tests run their own) own other hosts

    # -- queues ----------------------------------------------------------------------------
    def _submit(self, instance_id: str, fn, *args) -> None:
        log.info("%s: %s queued", instance_id, fn.__name__ if hasattr(fn, "__name__") else fn)
        with self._lock:
            queue = self._queues.setdefault(instance_id, ThreadPoolExecutor(1, thread_name_prefix=instance_id))
        queue.submit(self._logged, fn, *args)

    @staticmethod
    def _logged(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # a worker's failure is logged; the state already says what happened
            log.error("data plane: %s failed:\n%s", fn.__name__, traceback.format_exc())

    def drain(self) -> None:
        """Wait for every queued operation (the server's shutdown)."""
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            queue.shutdown(wait=True)

    def is_host(self, instance) -> bool:
        return instance.id in self.launched_here and instance.id in local_host.LocalHost.names()

    # -- instances -------------------------------------------------------------------------
    def launched(self, instances) -> None:
        for instance in instances:
            if disks.find(instance.image_id) is not None:
                # An Auto Scaling group's instance stays `running` while its host boots (on EC2 too,
                # running comes before the OS is up): moto registers it with the group's target
                # groups at once and refuses one that is not running. Its health checks tell when
                # it serves. Other launches are `pending` until systemd runs (Terraform, Packer and
                # the rebake's canary wait for `running`).
                if not any(tag["key"] == ASG_NAME_TAG for tag in instance.get_tags()):
                    set_state(instance, PENDING)
                self.launched_here.add(instance.id)
                self._submit(instance.id, self._boot_new, instance)

    def _boot_new(self, instance) -> None:
        name = instance.id
        local_host.down(name)
        try:
            netns.fence(instance.ec2_backend.get_subnet(instance.subnet_id).cidr_block)
            host = local_host.LocalHost.create(name, disks.require(instance.image_id), address=instance.private_ip)
            text = decoded_user_data(instance)
            if text:
                written = user_data.apply(Path(host.root), text)
                log.info("%s: user-data wrote %s", name, ", ".join(written))
            pair = instance.ec2_backend.key_pairs.get(instance.key_name or "")
            public = pair.material_public if pair is not None else b""
            if public and host.authorize(public.decode() if isinstance(public, bytes) else public):
                log.info("%s: key pair %s authorized for %s", name, pair.key_name, local_host.BOOTSTRAP_USER)
            if self.guest_setup:
                self.guest_setup(host, instance)
            os.sync()  # an EBS volume is written before its instance boots; a fresh unpack is not
            seconds = host.boot(BOOT_TIMEOUT)
        except Exception as exc:
            set_state(instance, TERMINATED, f"the local host did not boot: {exc}")
            local_host.down(name)
            raise
        if instance.state == "pending":
            set_state(instance, RUNNING)
        log.info("%s: booted at %s in %.1fs", name, instance.private_ip, seconds)

    def stopped(self, instances) -> None:
        for instance in instances:
            if self.is_host(instance):
                set_state(instance, STOPPING)
                self._submit(instance.id, self._power_off, instance)

    def _power_off(self, instance) -> None:
        local_host.LocalHost.load(instance.id).stop()
        set_state(instance, STOPPED)

    def started(self, instances) -> None:
        for instance in instances:
            if self.is_host(instance):
                set_state(instance, PENDING)
                self._submit(instance.id, self._power_on, instance)

    def _power_on(self, instance) -> None:
        try:
            local_host.LocalHost.load(instance.id).boot(BOOT_TIMEOUT)
        except Exception as exc:
            set_state(instance, STOPPED, f"the local host did not boot: {exc}")
            raise
        set_state(instance, RUNNING)

    def rebooted(self, instances) -> None:
        for instance in instances:
            if self.is_host(instance):
                self._submit(instance.id, lambda i=instance: local_host.LocalHost.load(i.id).restart(BOOT_TIMEOUT))

    def terminated(self, instances) -> None:
        for instance in instances:
            if self.is_host(instance) or instance.id in self._queues:
                self._submit(instance.id, local_host.down, instance.id)

    # -- images ----------------------------------------------------------------------------
    def image_created(self, ami, instance) -> None:
        if self.is_host(instance):
            ami.state = "pending"
            self._submit(instance.id, self._save_disk, ami, instance)

    def _save_disk(self, ami, instance) -> None:
        host = local_host.LocalHost.load(instance.id)
        was_running = host.running()
        tar = host.snapshot(disks.store() / f"{ami.id}.tar.partial-disk")
        disks.save(ami.id, tar, {"name": ami.name, "from_instance": instance.id, "source_ami": instance.image_id})
        if was_running:
            host.boot(BOOT_TIMEOUT)
        ami.state = "available"
        log.info("%s: disk of %s saved", ami.id, instance.id)

    @staticmethod
    def image_copied(new_ami, source_id: str) -> None:
        disks.link(source_id, new_ami.id)

    @staticmethod
    def image_deregistered(ami_id: str) -> None:
        disks.remove(ami_id)

    def remove_all(self) -> None:
        """Every host this region made (the region stops: its instances are gone with it). The
        subnets stay fenced until the local network itself is torn down."""
        self.drain()
        for name in sorted(self.launched_here):
            local_host.down(name)


def install(plane: DataPlane) -> None:
    """Hook ``plane`` into moto's EC2 backend methods (every region and account)."""
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.models.instances import InstanceBackend

    def after(cls, name, react):
        original = getattr(cls, name)

        @functools.wraps(original)
        def hooked(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            react(self, result, *args, **kwargs)
            return result
        setattr(cls, name, hooked)

    after(InstanceBackend, "run_instances", lambda be, reservation, *a, **k: plane.launched(reservation.instances))
    after(InstanceBackend, "stop_instances", lambda be, pairs, *a, **k: plane.stopped([i for i, _ in pairs]))
    after(InstanceBackend, "start_instances", lambda be, pairs, *a, **k: plane.started([i for i, _ in pairs]))
    after(InstanceBackend, "terminate_instances",
          lambda be, pairs, *a, **k: plane.terminated([i for i, _ in pairs]))
    after(InstanceBackend, "reboot_instances", lambda be, instances, *a, **k: plane.rebooted(instances))
    after(AmiBackend, "create_image",
          lambda be, ami, instance_id, *a, **k: plane.image_created(ami, be.get_instance(instance_id)))
    after(AmiBackend, "copy_image", lambda be, ami, source_image_id, *a, **k: plane.image_copied(ami, source_image_id))
    after(AmiBackend, "deregister_image", lambda be, _, ami_id, *a, **k: plane.image_deregistered(ami_id))
