"""Every shell script in the repository passes shellcheck (following what it sources)."""

import os
import shutil
import subprocess

import pytest

from inferctl.paths import IMAGE_DIR, REPO


def shell_scripts() -> list[str]:
    """Files whose first line names bash or sh, wherever they live (image/, packer/, .ci/)."""
    found = []
    for path in sorted(REPO.rglob("*")):
        if not path.is_file() or any(part in {".git", ".venv", "build", "node_modules"} for part in path.parts):
            continue
        with open(path, "rb") as file:
            first = file.readline(200)
        if first.startswith(b"#!") and (b"bash" in first or first.rstrip().endswith(b"/sh")):
            found.append(str(path.relative_to(REPO)))
    return found


def test_the_known_scripts_are_found():
    scripts = shell_scripts()
    for expected in ("image/provision/10-packages.sh", "image/provision/99-check.sh",
                     "image/rootfs/usr/local/lib/inference/wait-healthy", ".ci/run"):
        assert expected in scripts


def test_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    scripts = shell_scripts() + ["image/provision/lib.bash"]
    proc = subprocess.run(["shellcheck", "-x", *scripts], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_host_program_folders_pass_a_shellcheck_sweep():
    """Sweeps that shellcheck every program in sbin/ (or lib/inference/) meet the Python entry
    points too: each says on its second line that it is not a shell script (SC1071)."""
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    local = IMAGE_DIR / "rootfs" / "usr" / "local"
    programs = sorted(path for folder in (local / "sbin", local / "lib" / "inference") for path in folder.iterdir()
                      if path.is_file() and os.access(path, os.X_OK))
    assert {path.name for path in programs} >= {"inference-update", "api-keys", "wait-healthy"}
    proc = subprocess.run(["shellcheck", *map(str, programs)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
