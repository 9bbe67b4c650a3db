import pytest

from inferctl import config
from inferctl.errors import UserError


def test_defaults_need_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("INFERCTL_CONFIG", raising=False)
    cfg = config.load()
    assert cfg.project.target == "local"
    assert cfg.network.private_subnets is False
    assert cfg.fqdn == ""


def test_fqdn_from_domain():
    cfg = config.load(overrides={"dns": {"domain": "example.com"}})
    assert cfg.fqdn == "infer.example.com"


@pytest.mark.parametrize("section,key,value,message", [
    ("network", "vpc_cidr", "10.0.0.0/33", "not a valid CIDR"),
    ("network", "ingress_cidrs", ["1.2.3.4/40"], "not a valid CIDR"),
    ("compute", "instance_type", "huge", "not a valid EC2 instance type"),
    ("compute", "mode", "cluster", "not one of single, fleet"),
    ("aws", "region", "mars-1", "not a valid AWS region"),
    ("image", "keep_amis", 0, "must be at least 1"),
    ("image", "keep_amis", True, "expected int"),
    ("dns", "domain", "not a domain", "not a valid domain name"),
    ("updater", "schedule", "hourly", "cron schedule"),
])
def test_bad_values_name_the_key(section, key, value, message):
    with pytest.raises(UserError) as err:
        config.load(overrides={section: {key: value}})
    assert f"[{section}].{key}" in str(err.value)
    assert message in str(err.value)


def test_unknown_key_and_section(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[network]\nvpc_cdir = '10.0.0.0/16'\n")
    with pytest.raises(UserError, match="unknown key"):
        config.load(bad)
    bad.write_text("[netwrok]\n")
    with pytest.raises(UserError, match="unknown section"):
        config.load(bad)


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[network\n")
    with pytest.raises(UserError, match="not valid TOML"):
        config.load(bad)
    with pytest.raises(UserError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


def test_fleet_bounds():
    with pytest.raises(UserError, match="fleet_min"):
        config.load(overrides={"compute": {"fleet_min": 5, "fleet_max": 2}})
