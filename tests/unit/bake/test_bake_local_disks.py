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
