"""Local AMIs: the saved disk becomes the disk of the id the region gives it; the region's
data plane removes it when the AMI is deregistered (prune), and a copy shares it."""

from inferctl.bake import amis, local
from inferctl.region import dataplane, disks


def test_register_names_the_disk_after_the_ami(aws, tmp_path, monkeypatch):
    monkeypatch.setattr(disks, "CACHE_DIR", tmp_path)
    disks.store().mkdir()
    disk = disks.store() / "inference-local-1.tar.partial-disk"
    disk.write_bytes(b"disk")
    ec2 = aws.client("ec2")
    tags = amis.baked_tags(project="inference", source_ami="rootfs-host-bookworm-abc", source_ami_name="x.tar",
                           recipe_hash="r", app_digest="sha256:1", git_revision="g",
                           build_time="2025-01-01T00:00:00Z")
    ami = local.register(ec2, name="inference-local-1", tags=tags, disk=disk)
    assert disks.require(ami).read_bytes() == b"disk" and not disk.exists()
    assert amis.tags_of(ec2.describe_images(ImageIds=[ami])["Images"][0]) == tags


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
