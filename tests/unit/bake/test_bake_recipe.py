"""Recipe hash, manifest reading and the spec step's argument handling."""

import json

import pytest

from inferctl.bake import manifest, recipe, spec_step
from inferctl.errors import UserError


def tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_recipe_hash_is_stable_and_ignores_caches(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "REPO", tmp_path)
    root = tree(tmp_path / "image", {"provision/10-a.sh": "echo a", "spec/test_a.py": "x = 1"})
    first = recipe.recipe_hash((root,))
    tree(root, {"spec/__pycache__/test_a.cpython-311.pyc": "junk", "spec/.pytest_cache/v": "junk",
                "provision/10-a.sh~": "backup"})
    assert recipe.recipe_hash((root,)) == first
    tree(root, {"provision/10-a.sh": "echo b"})
    changed = recipe.recipe_hash((root,))
    assert changed != first
    (root / "provision/10-a.sh").chmod(0o755)
    assert recipe.recipe_hash((root,)) != changed          # the executable bit matters too
    tree(root, {"rootfs/etc/new": ""})
    assert len({first, changed, recipe.recipe_hash((root,))}) == 3


def test_real_recipe_files_cover_image_and_packer():
    rels = {p.relative_to(recipe.REPO).as_posix() for p in recipe.recipe_files()}
    assert "packer/aws.pkr.hcl.j2" in rels and "image/provision/90-cleanup.sh" in rels
    assert not [r for r in rels if "__pycache__" in r]


def test_manifest_ami_ids(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"last_run_uuid": "b", "builds": [
        {"packer_run_uuid": "a", "artifact_id": "eu-west-1:ami-old"},
        {"packer_run_uuid": "b", "artifact_id": "eu-west-1:ami-new,us-east-1:ami-copy"}]}))
    assert manifest.ami_ids(path) == {"eu-west-1": "ami-new", "us-east-1": "ami-copy"}
    with pytest.raises(UserError, match="missing or unreadable"):
        manifest.ami_ids(tmp_path / "none.json")


def test_spec_step_needs_packer_variables(monkeypatch, tmp_path, capsys):
    for name in spec_step.REQUIRED:
        monkeypatch.delenv(name, raising=False)
    assert spec_step.main(["--report", str(tmp_path / "r.xml")]) == 2
    assert "missing SPEC_HOST" in capsys.readouterr().err


def test_spec_step_runs_the_suite_with_packer_connection(monkeypatch, tmp_path):
    seen = {}

    class Result:
        exit_code = 1

        def summary(self):
            return "1 failed"

    def fake_run_spec(url, phase, report, pytest_args):
        key = url.split("ssh_identity_file=")[1]
        seen.update(url=url, phase=phase, key=open(key).read(), extra=pytest_args)
        return Result()

    monkeypatch.setattr(spec_step, "run_spec", fake_run_spec)
    monkeypatch.setenv("SPEC_HOST", "127.0.0.1")
    monkeypatch.setenv("SPEC_PORT", "2222")
    monkeypatch.setenv("SPEC_USER", "ubuntu")
    monkeypatch.setenv("SPEC_SSH_KEY", "-----BEGIN KEY-----\nabc\n-----END KEY-----")
    monkeypatch.setenv("INFERCTL_SPEC_EXTRA", "'/x/site checks.py' -k site")
    assert spec_step.main(["--report", str(tmp_path / "r.xml")]) == 1   # the suite's failure is the exit
    assert seen["url"].startswith("ssh://ubuntu@127.0.0.1:2222?ssh_identity_file=")
    assert seen["key"].endswith("-----END KEY-----\n") and seen["phase"] == "bake"
    assert seen["extra"] == ["/x/site checks.py", "-k", "site"]
