"""Shared test configuration: each tier folder marks its tests with the tier's marker, and
Terraform (run by the tests and by what they start) finds this machine's provider mirror."""

import pytest
from tf_mirror import write_cli_config


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.parts
        if "tests" in parts:
            tier = parts[parts.index("tests") + 1]
            if tier in {"unit", "container", "terraform", "host", "e2e"}:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session", autouse=True)
def terraform_cli_config(tmp_path_factory):
    """TF_CLI_CONFIG_FILE for the session (subprocesses inherit it) when this machine has a
    provider mirror and no CLI config was chosen already (.ci/run does the same)."""
    written = write_cli_config(tmp_path_factory.mktemp("terraform") / "terraformrc")
    with pytest.MonkeyPatch.context() as patch:
        if written:
            patch.setenv("TF_CLI_CONFIG_FILE", str(written))
        yield written
