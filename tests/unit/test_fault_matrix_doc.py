"""README.md's fault matrix is the host tier's (tests/host/fault_matrix.py), row for row, and every
row is proven by a host-tier test that names it."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "host"))
import fault_matrix  # noqa: E402

MARKER = "<!-- fault-matrix: tests/host/fault_matrix.py -->"


def test_the_readme_table_is_the_matrix():
    text = (REPO / "README.md").read_text()
    start = text.index(MARKER) + len(MARKER) + 1
    written = text[start:text.index("\n\n", start)]
    assert written == fault_matrix.table(), "regenerate README's table from fault_matrix.table()"


def test_every_row_has_a_host_test():
    sources = "\n".join(p.read_text() for p in (REPO / "tests" / "host").glob("test_*.py"))
    named = set(re.findall(r'mark\.fault\("([a-z_]+)"\)', sources))
    named |= {f"killed_{p}" for p in re.findall(r'"(before_switch|after_switch|after_drain)"', sources)
              if 'mark.fault(f"killed_{point}")' in sources}
    assert named == set(fault_matrix.ROWS), (set(fault_matrix.ROWS) - named, named - set(fault_matrix.ROWS))


def test_the_table_shows_results_and_rows_not_run():
    table = fault_matrix.table({"container_killed": "passed"})
    assert table.splitlines()[0].endswith("| Result |")
    assert table.count("| not run |") == len(fault_matrix.ROWS) - 1 and "| passed |" in table
