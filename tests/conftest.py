"""Shared test configuration: each tier folder marks its tests with the tier's marker."""

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.parts
        if "tests" in parts:
            tier = parts[parts.index("tests") + 1]
            if tier in {"unit", "container", "terraform", "host", "e2e"}:
                item.add_marker(getattr(pytest.mark, tier))
