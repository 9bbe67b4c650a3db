"""What inferctl imports at run time comes with `pip install .` (no extras): the rebake workflow
and users install only that. Checked from the source (every import, also inside functions)
against pyproject's [project] dependencies and what they require in turn."""

import ast
import re
import sys
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from inferctl.paths import REPO

# The local stand-in for AWS (`--local`, the demo), imported only where it runs; the dev extra
# installs it (moto[server], which brings werkzeug).
LOCAL_ONLY = {"moto", "werkzeug"}
OURS = {"inferctl", "falcon_app", "__future__"}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module name -> the files importing it, over inferctl/ and the host spec it runs."""
    found: dict[str, set[str]] = {}
    for path in [*(REPO / "inferctl").rglob("*.py"), *(REPO / "image" / "spec").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OURS:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_by(requirements: list[str]) -> set[str]:
    """Distributions (normalized names) these requirements install, transitively, extras included."""
    seen: set[str] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in needs:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra}) for extra in {"", *req.extras}):
                todo.append(sub)
    return seen


def _distributions(module: str) -> set[str]:
    return {_norm(d) for d in metadata.packages_distributions().get(module, [module])}


def test_runtime_imports_are_runtime_dependencies():
    runtime = installed_by(_project()["dependencies"])
    missing = {module: sorted(files) for module, files in third_party_imports().items()
               if module not in LOCAL_ONLY and not _distributions(module) & runtime}
    assert missing == {}, "add their distributions to [project] dependencies in pyproject.toml"


def test_local_only_imports_come_with_the_dev_extra():
    imported = third_party_imports()
    dev = installed_by(_project()["optional-dependencies"]["dev"])
    for module in LOCAL_ONLY:
        assert module in imported, f"{module} is no longer imported: drop it from LOCAL_ONLY"
        assert _distributions(module) & dev


@pytest.mark.parametrize("module", ["testinfra", "pytest", "boto3", "yaml"])
def test_the_scan_sees_what_bake_and_verify_import(module):
    assert module in third_party_imports()
