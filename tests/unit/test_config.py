import dataclasses
import os
import re

import pytest

from inferctl import config
from inferctl.errors import UserError
from inferctl.paths import REPO


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
    ("updater", "schedule", "hourly; reboot", "calendar expression"),
    ("updater", "spread", "a while", "time span"),
    ("alerts", "email", "oncall", "not a valid email address"),
    ("alerts", "email", "on call@example.com", "not a valid email address"),
    ("alerts", "email", "oncall@example", "not a valid email address"),
    ("alerts", "email", ["oncall@example.com"], "expected str"),
    ("waf", "rate_limit", 99, "must be between 100 and 2000000000 (requests per 5 minutes)"),
    ("waf", "rate_limit", 2_000_000_001, "must be between 100 and 2000000000"),
    ("waf", "block", "yes", "expected bool"),
    ("compute", "requests_per_target", -1, "must be at least 0 (0 = no scaling policy)"),
])
def test_bad_values_name_the_key(section, key, value, message):
    with pytest.raises(UserError) as err:
        config.load(overrides={section: {key: value}})
    assert f"[{section}].{key}" in str(err.value)
    assert message in str(err.value)


def test_alerts_waf_and_scaling_defaults_and_values():
    cfg = config.load()
    assert cfg.alerts.email == ""                                       # no subscription
    assert (cfg.waf.enabled, cfg.waf.block, cfg.waf.rate_limit) == (False, False, 1000)
    assert cfg.compute.requests_per_target == 1000
    cfg = config.load(overrides={"alerts": {"email": "on-call+inference@ops.example.co.uk"},
                                 "compute": {"mode": "fleet", "requests_per_target": 0},
                                 "waf": {"enabled": True, "block": True, "rate_limit": 100}})
    assert cfg.alerts.email == "on-call+inference@ops.example.co.uk"
    assert cfg.compute.requests_per_target == 0 and cfg.waf.enabled and cfg.waf.block


def test_waf_needs_fleet_mode():
    with pytest.raises(UserError) as err:
        config.load(overrides={"waf": {"enabled": True}})
    assert '[waf]: enabled = true needs [compute] mode = "fleet"' in str(err.value)
    assert config.load(overrides={"waf": {"enabled": False, "block": True}}).waf.block  # off: nothing to check


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


# --- every key from the environment: INFERCTL_<SECTION>_<KEY> ------------------------------

@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean slate: no config file, no INFERCTL_<section>_ variable from the caller's shell."""
    monkeypatch.setenv("INFERCTL_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    for name in list(os.environ):
        if any(name.startswith(config.env_name(section, "")) for section in config.SECTIONS):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize("name,value,section,key,expected", [
    ("INFERCTL_AWS_REGION", "us-east-2", "aws", "region", "us-east-2"),                  # str as is
    ("INFERCTL_COMPUTE_FLEET_MIN", "3", "compute", "fleet_min", 3),                       # int
    ("INFERCTL_UPDATER_HEALTH_TIMEOUT", " 120 ", "updater", "health_timeout", 120),
    ("INFERCTL_NETWORK_PRIVATE_SUBNETS", "true", "network", "private_subnets", True),     # bool
    ("INFERCTL_NETWORK_PRIVATE_SUBNETS", "YES", "network", "private_subnets", True),
    ("INFERCTL_NETWORK_PRIVATE_SUBNETS", "1", "network", "private_subnets", True),
    ("INFERCTL_NETWORK_PRIVATE_SUBNETS", "no", "network", "private_subnets", False),
    ("INFERCTL_NETWORK_PRIVATE_SUBNETS", "0", "network", "private_subnets", False),
    ("INFERCTL_IMAGE_AMI_REGIONS", "us-east-1, eu-central-1", "image", "ami_regions",     # list
     ["us-east-1", "eu-central-1"]),
    ("INFERCTL_NETWORK_INGRESS_CIDRS", "", "network", "ingress_cidrs", []),
    ("INFERCTL_ALERTS_EMAIL", "oncall@example.com", "alerts", "email", "oncall@example.com"),
    ("INFERCTL_WAF_BLOCK", "true", "waf", "block", True),
    ("INFERCTL_WAF_RATE_LIMIT", "500", "waf", "rate_limit", 500),
    ("INFERCTL_COMPUTE_REQUESTS_PER_TARGET", "0", "compute", "requests_per_target", 0),
])
def test_environment_values_take_the_keys_type(env, name, value, section, key, expected):
    env.setenv(name, value)
    assert getattr(getattr(config.load(), section), key) == expected


def test_false_from_the_environment_beats_true_from_the_file(env, tmp_path):
    (tmp_path / "none.toml").write_text("[network]\nprivate_subnets = true\n")
    env.setenv("INFERCTL_NETWORK_PRIVATE_SUBNETS", "false")
    assert config.load().network.private_subnets is False


def test_precedence_overrides_then_environment_then_file_then_defaults(env, tmp_path):
    (tmp_path / "none.toml").write_text("[aws]\nregion = 'eu-north-1'\n[compute]\ninstance_type = 't3.large'\n")
    assert config.load().aws.region == "eu-north-1"                       # file over default
    assert config.load().compute.mode == "single"                         # default
    env.setenv("INFERCTL_AWS_REGION", "us-west-2")
    loaded = config.load()
    assert loaded.aws.region == "us-west-2"                               # environment over file
    assert loaded.compute.instance_type == "t3.large"                     # the file's other keys stay
    assert config.load(overrides={"aws": {"region": "ap-south-1"}}).aws.region == "ap-south-1"


@pytest.mark.parametrize("name,value,message", [
    ("INFERCTL_COMPUTE_MODE", "big", "INFERCTL_COMPUTE_MODE (compute.mode): 'big' is not one of single, fleet"),
    ("INFERCTL_COMPUTE_FLEET_MIN", "two",
     "INFERCTL_COMPUTE_FLEET_MIN (compute.fleet_min): 'two' is not a whole number"),
    ("INFERCTL_COMPUTE_FLEET_MIN", "-1", "INFERCTL_COMPUTE_FLEET_MIN (compute.fleet_min): '-1' is not a whole number"),
    ("INFERCTL_IMAGE_KEEP_AMIS", "0", "INFERCTL_IMAGE_KEEP_AMIS (image.keep_amis): 0 must be at least 1"),
    ("INFERCTL_NETWORK_PRIVATE_SUBNETS", "maybe",
     "INFERCTL_NETWORK_PRIVATE_SUBNETS (network.private_subnets): 'maybe' is not a boolean"),
    ("INFERCTL_IMAGE_AMI_REGIONS", "us-east-1,mars-1",
     "INFERCTL_IMAGE_AMI_REGIONS (image.ami_regions): 'mars-1' is not a valid AWS region"),
    ("INFERCTL_ALERTS_EMAIL", "oncall", "INFERCTL_ALERTS_EMAIL (alerts.email): 'oncall' is not a valid email address"),
    ("INFERCTL_WAF_RATE_LIMIT", "10",
     "INFERCTL_WAF_RATE_LIMIT (waf.rate_limit): 10 must be between 100 and 2000000000"),
])
def test_a_bad_environment_value_names_the_variable_and_the_key(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(UserError) as err:
        config.load()
    assert str(err.value).startswith(message)


def test_fleet_bounds_from_the_environment_name_the_variable(env):
    env.setenv("INFERCTL_COMPUTE_FLEET_MIN", "9")
    with pytest.raises(UserError, match=r"fleet_min \(9\) is larger than fleet_max \(4\) "
                                         r"\(set by INFERCTL_COMPUTE_FLEET_MIN\)"):
        config.load()


def test_waf_without_fleet_from_the_environment_names_the_variable(env):
    env.setenv("INFERCTL_WAF_ENABLED", "yes")
    with pytest.raises(UserError, match=r"needs \[compute\] mode = \"fleet\".* \(set by INFERCTL_WAF_ENABLED\)"):
        config.load()
    env.setenv("INFERCTL_COMPUTE_MODE", "fleet")
    assert config.load().waf.enabled


def test_an_unknown_key_under_a_section_prefix_is_an_error(env):
    env.setenv("INFERCTL_COMPUTE_SIZE", "large")
    with pytest.raises(UserError) as err:
        config.load()
    assert str(err.value).startswith("INFERCTL_COMPUTE_SIZE: no key 'size' in [compute]")
    assert "INFERCTL_COMPUTE_FLEET_MIN" in str(err.value)      # the hint lists the right names


def test_other_inferctl_variables_are_not_config_keys(env):
    for name in ("INFERCTL_API_KEY", "INFERCTL_BUILD_DIR", "INFERCTL_SPEC_EXTRA", "INFERCTL_SOMETHING_ELSE"):
        env.setenv(name, "/x")
    assert config.load().project == config.Project()      # read, ignored, no error


def test_no_variable_the_code_reads_collides_with_a_config_key_name():
    """INFERCTL_CONFIG, INFERCTL_API_KEY, ...: a variable of the code starting INFERCTL_<section>_
    would be read as a config key (and fail as an unknown one)."""
    product = [REPO / "tasks.py", *(REPO / "inferctl").rglob("*.py"), *(REPO / "image").rglob("*"),
               *(REPO / "packer").rglob("*"), *(REPO / ".github").rglob("*.y*ml"), REPO / ".ci" / "run"]
    used = {name for path in product if path.is_file()
            for name in re.findall(r"\bINFERCTL_[A-Z0-9_]+", path.read_text(errors="replace"))}
    assert {"INFERCTL_CONFIG", "INFERCTL_API_KEY"} <= used
    keys = {config.env_name(section, f.name) for section in config.SECTIONS
            for f in dataclasses.fields(getattr(config.Config(), section))}
    prefixes = tuple(config.env_name(section, "") for section in config.SECTIONS)
    assert sorted(name for name in used if name.startswith(prefixes) and name not in keys) == []


def test_your_own_model_and_its_answers(tmp_path, monkeypatch):
    """[app] model needs known_answers (and they need it); paths start at the config's folder."""
    file = tmp_path / "conf" / "inferctl.toml"
    file.parent.mkdir()
    file.write_text('[app]\nmodel = "m/model.onnx"\nknown_answers = "/abs/answers.json"\nclasses = ["a", "b"]\n')
    cfg = config.load(file)
    assert cfg.path(cfg.app.model) == file.parent / "m" / "model.onnx"
    assert str(cfg.path(cfg.app.known_answers)) == "/abs/answers.json"
    monkeypatch.setenv("INFERCTL_APP_FEATURES", "x, y")
    assert config.load(file).app.features == ["x", "y"]
    for overrides, message in [({"known_answers": ""}, "needs known_answers"),
                               ({"model": ""}, "describe your model: set model too"),
                               ({"model": "model.pt"}, "not a valid ONNX model path"),
                               ({"classes": ["a", "a"]}, "must be distinct"),
                               ({"features": ["a,b"]}, "without commas"),
                               ({"model_threads": 0}, "must be at least 1")]:
        with pytest.raises(UserError, match=message):
            config.load(file, overrides={"app": overrides})
