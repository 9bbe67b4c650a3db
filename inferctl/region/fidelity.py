"""Where moto answers differently from AWS in a way our tools meet: made as AWS documents it.

Installed by the region's server before it serves (``install``), for every region and account.
"""

from __future__ import annotations

import functools


def install() -> None:
    _ebs_backed_registrations()
    _idempotent_target_groups()


def _ebs_backed_registrations() -> None:
    """RegisterImage with a root device on EBS makes an EBS-backed AMI, as on AWS (moto records
    every registered image as instance-store, which Packer's amazon-ebs refuses as a source)."""
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.register_image

    @functools.wraps(original)
    def register_image(self):
        result = original(self)
        root = self._get_param("RootDeviceName")
        mappings = self._get_param("BlockDeviceMappings", [])
        if root and any(m.get("DeviceName") == root and m.get("Ebs") is not None for m in mappings):
            ami = self.ec2_backend.amis[result.result["ImageId"]]
            ami.root_device_type, ami.root_device_name = "ebs", root
        return result
    AmisResponse.register_image = register_image


def _idempotent_target_groups() -> None:
    """CreateTargetGroup with the name of an existing group of the same settings returns that
    group, as on AWS ("each call succeeds"); moto refuses it as a duplicate. The AWS SDKs retry a
    create whose answer was slow, and Terraform then failed on its own first attempt."""
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.create_target_group

    @functools.wraps(original)
    def create_target_group(self, name, **kwargs):
        for group in self.target_groups.values():
            if group.name == name and all(str(getattr(group, key, None)) == str(kwargs.get(key))
                                          for key in ("protocol", "port", "vpc_id", "target_type")
                                          if kwargs.get(key) is not None):
                return group
        return original(self, name, **kwargs)
    ELBv2Backend.create_target_group = create_target_group
