"""The thin entry points find their package: run as the host runs them (the shebang's
`/usr/bin/python3 -I`, which ignores PYTHONPATH and the script's directory), from elsewhere."""

import grp
import os
import shutil
import subprocess

import pytest

from inferctl.paths import IMAGE_DIR

LOCAL = IMAGE_DIR / "rootfs" / "usr" / "local"
UPDATER = LOCAL / "sbin" / "inference-update"
API_KEYS = LOCAL / "lib" / "inference" / "api-keys"


@pytest.fixture
def clean_env(tmp_path):
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("no /usr/bin/python3 (the hosts' interpreter)")
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}


@pytest.mark.parametrize("script", [UPDATER, API_KEYS, API_KEYS.with_name("logship"), API_KEYS.with_name("certstore")],
                         ids=lambda p: p.name)
def test_shebang_is_isolated_python(script):
    assert script.read_text().splitlines()[0] == "#!/usr/bin/python3 -I"
    assert os.access(script, os.X_OK)


def test_updater_entry_point_runs_its_command_line(tmp_path, clean_env):
    proc = subprocess.run([str(UPDATER), "--help"], cwd=tmp_path, env=clean_env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: inference-update")
    assert "health-gated blue/green updates of the inference container" in proc.stdout
    proc = subprocess.run([str(UPDATER), "status"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**clean_env, "INFERENCE_UPDATE_VAR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert '"active_slot": null' in proc.stdout
    proc = subprocess.run([str(UPDATER), "nonsense"], cwd=tmp_path, env=clean_env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "invalid choice: 'nonsense'" in proc.stderr


def test_api_keys_entry_point_runs(tmp_path, clean_env):
    (tmp_path / "defaults.env").write_text(f"API_KEYS_FILE={tmp_path}/api-keys\n")
    env = {**clean_env, "INFERENCE_API_KEYS_ETC": str(tmp_path),
           "INFERENCE_API_KEYS_GROUP": grp.getgrgid(os.getgid()).gr_name}
    proc = subprocess.run([str(API_KEYS)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"inference-api-keys: generated this instance's key in {tmp_path}/api-keys\n"
    assert len((tmp_path / "api-keys").read_text().strip()) >= 40


def test_certstore_entry_point_runs(tmp_path, clean_env):
    (tmp_path / "defaults.env").write_text("DOMAIN=\nCERT_BUCKET=\n")
    env = {**clean_env, "INFERENCE_CERTSTORE_ETC": str(tmp_path)}
    proc = subprocess.run([str(API_KEYS.with_name("certstore")), "restore"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and '"event": "not_kept"' in proc.stdout, proc.stderr
    proc = subprocess.run([str(API_KEYS.with_name("certstore"))], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "usage: certstore restore|save" in proc.stderr


def test_entry_points_work_from_a_copy_of_the_host_layout(tmp_path, clean_env):
    """As 20-files.sh lays them out: sbin/ and lib/inference/ side by side, nothing else."""
    root = tmp_path / "usr" / "local"
    shutil.copytree(LOCAL, root, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([str(root / "sbin" / "inference-update"), "--help"], cwd="/", env=clean_env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
