"""invoke demo refuses to start, with the fix named, when the machine cannot run it."""

import pytest

from inferctl import demo, up
from inferctl.errors import UserError


def test_missing_packages_name_the_bootstrap(monkeypatch):
    monkeypatch.setattr(demo.os, "geteuid", lambda: 0)
    monkeypatch.setattr(demo, "missing_packages", lambda packages: ["packer", "debootstrap"])
    with pytest.raises(UserError) as err:
        demo.check_prerequisites()
    assert "missing packages: packer debootstrap" in str(err.value)
    assert "python3 -m inferctl.bootstrap" in str(err.value)


def test_not_root_is_refused(monkeypatch):
    monkeypatch.setattr(demo.os, "geteuid", lambda: 1000)
    with pytest.raises(UserError, match="needs root"):
        demo.check_prerequisites()


def test_all_present_passes(monkeypatch):
    monkeypatch.setattr(demo.os, "geteuid", lambda: 0)
    monkeypatch.setattr(demo, "missing_packages", lambda packages: [])
    demo.check_prerequisites()


def test_wait_healthy_names_the_url_and_last_error():
    with pytest.raises(UserError, match=r"http://127\.0\.0\.1:9/health did not answer 200 within 1s"):
        up.wait_healthy("http://127.0.0.1:9/health", timeout=1)
