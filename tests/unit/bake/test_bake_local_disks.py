"""Local AMIs: the saved disk is renamed after the id moto gives it, and prune deletes it too."""

from bake_moto import register_baked

from inferctl.bake import amis, local


def test_register_names_the_disk_after_the_ami_and_prune_removes_it(aws, tmp_path, monkeypatch):
    monkeypatch.setattr(local, "CACHE_DIR", tmp_path)
    local.ami_dir().mkdir()
    disk = local.ami_dir() / "inference-local-1.tar.partial-disk"
    disk.write_bytes(b"disk")
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    tags = amis.baked_tags(project="inference", source_ami="rootfs-host-bookworm-abc", source_ami_name="x.tar",
                           recipe_hash="r", app_digest="sha256:1", git_revision="g",
                           build_time="2025-01-01T00:00:00Z")
    ami = local.register(ec2, name="inference-local-1", tags=tags, disk=disk)
    assert local.ami_tar(ami).read_bytes() == b"disk" and not disk.exists()
    assert amis.tags_of(ec2.describe_images(ImageIds=[ami])["Images"][0]) == tags
    register_baked(ec2, "inference-local-2", "2025-01-02T00:00:00Z")
    amis.prune(ec2, ssm, "inference", keep=1, apply=True, say=lambda line: None, on_deleted=local.remove_disk)
    assert not list(local.ami_dir().iterdir())


def test_disks_of_local_hosts_count_as_in_use(tmp_path, monkeypatch):
    from inferctl.local import host as local_host
    monkeypatch.setattr(local, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(local_host, "STATE_DIR", tmp_path / "state")
    local_host.LocalHost(name="web", root="/nowhere", source=str(local.ami_dir() / "ami-0abc.tar"))._save()
    local_host.LocalHost(name="bare", root="/nowhere", source=str(tmp_path / "rootfs" / "host.tar"))._save()
    assert local.in_use_by_hosts() == {"ami-0abc": "disk of local host web"}
