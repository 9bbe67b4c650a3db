"""The architecture as the folders state it: the orchestration package (inferctl/) imports
nothing from the service (falcon_app/), and production code reads nothing under tests/."""

import ast

import pytest

from inferctl.paths import REPO

# inferctl/testing.py is `invoke test`: running the tiers under tests/ is its one job.
SOURCES = [p for p in sorted((REPO / "inferctl").rglob("*.py")) if p.name != "testing.py"] + [REPO / "tasks.py"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_import_of_the_app_and_no_path_into_tests(path):
    tree = ast.parse(path.read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "falcon_app"]
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert not [s for s in strings if s == "tests" or s.startswith("tests/")]
