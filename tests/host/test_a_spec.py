"""The recipe makes a host that passes its own spec: during the bake (over SSH) and live."""

import shutil
import subprocess

import pytest

from inferctl.paths import IMAGE_DIR
from inferctl.spec_hosts import run_spec


def test_recipe_scripts_pass_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    scripts = sorted(str(p) for p in (IMAGE_DIR / "provision").glob("*.sh"))
    scripts += [str(IMAGE_DIR / "rootfs/usr/local/lib/inference/wait-healthy")]
    proc = subprocess.run(["shellcheck", "-x", *scripts], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_spec_passes_during_bake_over_ssh(provisioned):
    _, bake = provisioned
    assert bake.passed, bake.summary()
    assert bake.total >= 30


def test_spec_passes_on_live_host(live_host, tmp_path):
    result = run_spec(live_host.nspawn_url, "live", tmp_path / "live.xml", quiet=True)
    assert result.passed, result.summary()
    assert result.total >= 30
