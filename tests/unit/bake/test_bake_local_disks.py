"""Local AMIs' disks: the region's data plane removes a deregistered AMI's disk (prune), and a
copy shares its source's."""

from inferctl.region import dataplane, disks


def test_the_data_plane_removes_a_pruned_amis_disk_and_links_a_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(disks, "CACHE_DIR", tmp_path)
    disks.store().mkdir()
    partial = disks.store() / "x.partial"
    partial.write_bytes(b"disk")
    disks.save("ami-0source", partial, {})

    class Copy:
        id = "ami-0copy"
    dataplane.DataPlane.image_copied(Copy, "ami-0source")
    assert disks.require("ami-0copy").read_bytes() == b"disk"
    dataplane.DataPlane.image_deregistered("ami-0source")
    assert disks.find("ami-0source") is None and disks.require("ami-0copy").read_bytes() == b"disk"


def test_a_launch_from_a_disk_is_pending_until_its_host_boots_unless_an_auto_scaling_group_made_it(
        aws, monkeypatch):
    """moto registers a group's instances with its target groups at once and refuses pending ones."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    monkeypatch.setattr(disks, "find", lambda ami: "/some/disk.tar")
    plane = dataplane.DataPlane()
    monkeypatch.setattr(plane, "_submit", lambda *args: None)
    ec2 = aws.client("ec2")
    image = ec2.register_image(Name="baked", RootDeviceName="/dev/sda1")["ImageId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": dataplane.ASG_NAME_TAG, "Value": "fleet"}]}]
    plain = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    grouped = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                TagSpecifications=tags)["Instances"][0]["InstanceId"]
    backend = ec2_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
    plane.launched([backend.get_instance(plain), backend.get_instance(grouped)])
    assert backend.get_instance(plain).state == "pending" and backend.get_instance(grouped).state == "running"
    assert plane.launched_here == {plain, grouped}
