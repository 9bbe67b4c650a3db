"""inferctl.shell.run_with_heartbeat: a long command is never silent, its output goes to the log."""

import sys

from inferctl import shell


def test_a_command_longer_than_the_interval_prints_heartbeats_with_its_last_line(tmp_path, capsys):
    log = tmp_path / "step.log"
    script = "import time\nprint('Step 1/2 : FROM base', flush=True)\ntime.sleep(0.8)\nprint('Step 2/2 : done')\n"
    code = shell.run_with_heartbeat([sys.executable, "-c", script], log, label="thing: building x", every=0.2)
    assert code == 0
    beats = [line for line in capsys.readouterr().out.splitlines() if line.startswith("thing: building x ... ")]
    assert beats, "no heartbeat line"
    assert any(line.endswith(" s (last: Step 1/2 : FROM base)") for line in beats)
    assert log.read_text() == "Step 1/2 : FROM base\nStep 2/2 : done\n"


def test_exit_code_stderr_in_the_log_and_its_tail(tmp_path, capsys):
    log = tmp_path / "step.log"
    script = "import sys\nprint('one', flush=True)\nprint('two', file=sys.stderr)\nsys.exit(3)\n"
    assert shell.run_with_heartbeat([sys.executable, "-c", script], log, label="x", every=5) == 3
    assert capsys.readouterr().out == ""                     # quick: no heartbeat needed
    assert shell.log_tail(log) == "one | two"
