"""Running a host command (systemctl, docker, a credential helper) as (exit code, stdout, stderr)."""

from __future__ import annotations

import subprocess


def run_command(argv, input=None, timeout=None):
    """Run a command; returns (exit code, stdout, stderr). A missing tool is exit 127."""
    try:
        proc = subprocess.run(argv, input=input, text=True, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]} timed out after {timeout}s"
    return proc.returncode, proc.stdout, proc.stderr
