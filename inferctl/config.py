"""The project's settings: one TOML file, typed sections, validated up front.

Every value has a default that works on the local target, so a fresh clone needs no
config file at all. Each section is a dataclass; a wrong type, an unknown key or a value
that fails its check is a UserError naming the file, the section and the key.

Every key can also come from the environment as INFERCTL_<SECTION>_<KEY> (a CI job needs no
committed file): INFERCTL_COMPUTE_FLEET_MIN=3, INFERCTL_IMAGE_AMI_REGIONS=us-east-1,eu-central-1.
Precedence: load()'s overrides > environment > file > defaults. Only names that start with
INFERCTL_<a section>_ are config keys; an unknown key there is an error naming the variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from .errors import UserError
from .paths import REPO

DEFAULT_PATH = REPO / "inferctl.toml"

REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|metal|\d*xlarge)$")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
DOMAIN_RE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# The same pattern as the alert_email variable's validation in terraform/variables.tf.
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$")


def _cidr(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR ({exc})") from None


def _match(regex: re.Pattern, what: str):
    def check(value: str) -> None:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not a valid {what}")
    return check


def _one_of(*allowed: str):
    def check(value: str) -> None:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return check


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"{value} must be at least 1")


def _within(minimum: int, maximum: int | None = None, what: str = ""):
    def check(value: int) -> None:
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ValueError(f"{value} must be {bounds}{what}")
    return check


def _optional(check):
    return lambda value: check(value) if value else None


def _each(check):
    def run(values: list) -> None:
        for value in values:
            check(value)
    return run


def _setting(default, check=None, help: str = ""):
    factory = (lambda: list(default)) if isinstance(default, list) else None
    meta = {"check": check, "help": help}
    if factory:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Project:
    name: str = _setting("inference", _match(NAME_RE, "name (lowercase, digits, dashes)"),
                         "prefix of every resource name")
    target: str = _setting("local", _one_of("local", "aws"), "where deploy/verify act")


@dataclass(frozen=True)
class Aws:
    region: str = _setting("eu-west-1", _match(REGION_RE, "AWS region"), "region of every resource")
    profile: str = _setting("", help="named AWS profile; empty = the default credential chain")
    state_bucket: str = _setting("", help="S3 bucket for Terraform state; empty = local state")
    state_lock_table: str = _setting("", help="DynamoDB table for the state lock (optional)")


@dataclass(frozen=True)
class Image:
    ubuntu_release: str = _setting("24.04", _one_of("22.04", "24.04"), "Ubuntu LTS the AMI is based on")
    architecture: str = _setting("x86_64", _one_of("x86_64", "arm64"), "AMI architecture")
    build_instance_type: str = _setting("t3.small", _match(INSTANCE_TYPE_RE, "EC2 instance type"),
                                        "instance type Packer builds on")
    kms_key_id: str = _setting("", help="KMS key for the encrypted AMI; empty = the AWS-managed EBS key")
    ami_regions: list = _setting([], _each(_match(REGION_RE, "AWS region")), "extra regions to copy the AMI to")
    keep_amis: int = _setting(3, _positive, "baked AMIs kept by prune")


def _model_names(values: list) -> None:
    if not all(isinstance(v, str) and v.strip() and "," not in v for v in values):
        raise ValueError(f"{values!r}: names must be non-empty strings without commas")
    if len(set(values)) != len(values):
        raise ValueError(f"{values!r}: names must be distinct")


@dataclass(frozen=True)
class App:
    repository: str = _setting("inference", _match(NAME_RE, "repository name"), "ECR repository name")
    tag: str = _setting("stable", _match(re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"), "image tag"),
                        "tag the hosts track")
    model: str = _setting("", _optional(_match(re.compile(r"^.+\.onnx$"), "ONNX model path (*.onnx)")),
                          "your model (an .onnx file) baked into the app image; empty = the built-in iris "
                          "model. Relative paths start at the config file's folder")
    known_answers: str = _setting("", help="the model's known answers (JSON: inputs, expected label and "
                                           "probabilities): checked by the image build, the host spec and verify")
    model_id: str = _setting("", _optional(_match(re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$"), "model id")),
                             "override the model's own model_id metadata")
    features: list = _setting([], _model_names, "override the model's feature names (in input order)")
    classes: list = _setting([], _model_names, "override the model's class names (in output order)")
    model_threads: int = _setting(1, _positive, "onnxruntime intra-op threads per worker "
                                                "(benchmarks/model_bench.py measures the choice)")


@dataclass(frozen=True)
class Network:
    vpc_cidr: str = _setting("10.20.0.0/16", _cidr, "VPC CIDR block")
    az_count: int = _setting(2, _positive, "availability zones to spread subnets over")
    private_subnets: bool = _setting(False, help="private subnets + NAT gateway (~$32/month)")
    ingress_cidrs: list = _setting(["0.0.0.0/0"], _each(_cidr), "who may reach 80/443")


@dataclass(frozen=True)
class Compute:
    mode: str = _setting("single", _one_of("single", "fleet"), "one instance, or an ASG behind an ALB")
    instance_type: str = _setting("t3.small", _match(INSTANCE_TYPE_RE, "EC2 instance type"),
                                  "instance type of the service")
    root_volume_gb: int = _setting(16, _positive, "encrypted gp3 root volume size")
    fleet_min: int = _setting(2, _positive, "fleet: minimum instances")
    fleet_max: int = _setting(4, _positive, "fleet: maximum instances")
    certificate_arn: str = _setting("", help="fleet: ACM certificate for the ALB; empty = request one for the domain")
    requests_per_target: int = _setting(1000, _within(0, what=" (0 = no scaling policy)"),
                                        "fleet: target tracking on the requests per instance and minute "
                                        "(ALBRequestCountPerTarget), within fleet_min..fleet_max; "
                                        "0 = no scaling policy")


@dataclass(frozen=True)
class Dns:
    domain: str = _setting("", _optional(_match(DOMAIN_RE, "domain name")),
                           "hosted zone to publish <subdomain>.<domain> in; empty = no DNS, no HTTPS")
    subdomain: str = _setting("infer", _match(re.compile(r"^[a-z0-9-]{1,63}$"), "DNS label"), "record name")
    tls_issuer: str = _setting("acme", _one_of("acme", "internal"),
                               "single mode with a domain: who issues the certificate (acme = Let's Encrypt; "
                               "internal = Caddy's own CA, for private networks and the local region)")


@dataclass(frozen=True)
class Updater:
    schedule: str = _setting("hourly", _match(re.compile(r"^[A-Za-z0-9*:,./~ -]+$"), "calendar expression"),
                             "when the on-host updater runs: a systemd calendar expression (hourly, *:17, "
                             "Mon..Fri 03:00) or a 5-field cron schedule")
    spread: str = _setting("15min", _match(re.compile(r"^\d+(s|sec|min|m|h)?$"), "time span (900s, 15min, 1h)"),
                           "random delay of each updater run, drawn per run and host: a fleet never swaps at once")
    health_timeout: int = _setting(90, _positive, "seconds a new container gets to become healthy")


@dataclass(frozen=True)
class Alerts:
    email: str = _setting("", _optional(_match(EMAIL_RE, "email address")),
                          "subscribed to the <project>-alerts topic every alarm notifies (AWS mails a "
                          "confirmation link first); empty = no subscription")


@dataclass(frozen=True)
class Waf:
    enabled: bool = _setting(False, help="fleet: a WAF web ACL on the ALB (AWS common and known-bad-inputs "
                                         "rules, a rate limit per IP); about $8/month + $0.60/million requests")
    block: bool = _setting(False, help="false = count mode (the rules only count what they match); true = they block")
    rate_limit: int = _setting(1000, _within(100, 2_000_000_000, " (requests per 5 minutes)"),
                               "requests per 5 minutes from one IP above which the rate rule matches")


@dataclass(frozen=True)
class Config:
    project: Project = field(default_factory=Project)
    aws: Aws = field(default_factory=Aws)
    image: Image = field(default_factory=Image)
    app: App = field(default_factory=App)
    network: Network = field(default_factory=Network)
    compute: Compute = field(default_factory=Compute)
    dns: Dns = field(default_factory=Dns)
    updater: Updater = field(default_factory=Updater)
    alerts: Alerts = field(default_factory=Alerts)
    waf: Waf = field(default_factory=Waf)
    source: Path | None = None

    def path(self, value: str) -> Path:
        """A path the config names: relative ones start at the config file's folder (at the
        current directory when there is no file)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.source.parent if self.source else Path.cwd()) / path

    @property
    def fqdn(self) -> str:
        return f"{self.dns.subdomain}.{self.dns.domain}" if self.dns.domain else ""


SECTIONS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "source")
ENV_PREFIX = "INFERCTL_"
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def _from_text(text: str, expected: type) -> Any:
    """An environment value as the key's type: int digits, bool words, list comma-separated."""
    if expected is bool:
        if text.strip().lower() not in TRUE | FALSE:
            raise ValueError(f"{text!r} is not a boolean (true/false, yes/no, 1/0)")
        return text.strip().lower() in TRUE
    if expected is int:
        if not re.fullmatch(r"\s*\d+\s*", text):
            raise ValueError(f"{text!r} is not a whole number")
        return int(text)
    if expected is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def from_environment(environ: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    """The INFERCTL_<SECTION>_<KEY> values, typed, and for each (section, key) its variable's name."""
    values: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    for name, text in sorted(environ.items()):
        section = next((s for s in SECTIONS if name.startswith(env_name(s, ""))), None)
        if section is None:
            continue
        cls = get_type_hints(Config)[section]
        hints = get_type_hints(cls)
        key = name[len(env_name(section, "")):].lower()
        if key not in hints:
            raise UserError(f"{name}: no key {key!r} in [{section}]",
                            hint=f"{section} keys: {', '.join(env_name(section, k) for k in hints)}")
        try:
            values.setdefault(section, {})[key] = _from_text(text, hints[key])
        except ValueError as exc:
            raise UserError(f"{name} ({section}.{key}): {exc}") from None
        names[(section, key)] = name
    return values, names


def _build_section(cls, raw: Any, where: str, labels: Mapping[str, str]):
    """``labels``: how to name a key in an error when not ``where.key`` (its variable)."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a table, got {type(raw).__name__}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}",
                        hint=f"known keys: {', '.join(known)}")
    values = {}
    for name, value in raw.items():
        label = labels.get(name, f"{where}.{name}")
        expected = hints[name]
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if not ok:
            raise UserError(f"{label}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
        check = known[name].metadata.get("check")
        if check:
            try:
                check(value)
            except ValueError as exc:
                raise UserError(f"{label}: {exc}") from None
        values[name] = value
    return cls(**values)


def _layer(raw: dict[str, Any], values: dict[str, dict[str, Any]]) -> None:
    """Put ``values`` over ``raw`` (a section that is no table is left for its own error)."""
    for section, items in values.items():
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table.update(items)


def load(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Load and validate the config; a missing default file means all defaults."""
    explicit = path or os.environ.get("INFERCTL_CONFIG")
    file = Path(explicit) if explicit else DEFAULT_PATH
    raw: dict[str, Any] = {}
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{file}: not valid TOML: {exc}") from None
    elif explicit:
        raise UserError(f"config file {file} does not exist")
    from_env, env_names = from_environment(os.environ)
    _layer(raw, from_env)
    _layer(raw, overrides or {})
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise UserError(f"{file.name}: unknown section(s) {', '.join(unknown)}",
                        hint=f"known sections: {', '.join(SECTIONS)}")
    for section, values in (overrides or {}).items():
        for key in values:
            env_names.pop((section, key), None)
    built = {name: _build_section(get_type_hints(Config)[name], raw.get(name, {}), f"{file.name} [{name}]",
                                  {key: f"{var} ({name}.{key})" for (section, key), var in env_names.items()
                                   if section == name})
             for name in SECTIONS}
    config = Config(**built, source=file if file.exists() else None)
    if config.compute.fleet_min > config.compute.fleet_max:
        origin = _origin(env_names, [("compute", "fleet_min"), ("compute", "fleet_max")])
        raise UserError(f"{file.name} [compute]: fleet_min ({config.compute.fleet_min}) "
                        f"is larger than fleet_max ({config.compute.fleet_max}){origin}")
    app = config.app
    if (app.known_answers or app.model_id or app.features or app.classes) and not app.model:
        raise UserError(f"{file.name} [app]: known_answers, model_id, features and classes describe "
                        "your model: set model too", hint="model = \"path/to/model.onnx\"")
    if app.model and not app.known_answers:
        raise UserError(f"{file.name} [app]: model {app.model} needs known_answers, the answers the build, "
                        "the host spec and verify check it against",
                        hint="a JSON file of inputs with their expected label and probabilities "
                             "(README: Serve your own model)")
    if config.waf.enabled and config.compute.mode != "fleet":
        origin = _origin(env_names, [("waf", "enabled"), ("compute", "mode")])
        raise UserError(f"{file.name} [waf]: enabled = true needs [compute] mode = \"fleet\": the web ACL sits on "
                        f"the ALB, and a single instance has none{origin}",
                        hint="set [compute] mode = \"fleet\", or [waf] enabled = false")
    return config


def _origin(env_names: Mapping[tuple[str, str], str], keys: list[tuple[str, str]]) -> str:
    """" (set by INFERCTL_...)" for the keys that came from the environment, else ""."""
    variables = [env_names[key] for key in keys if key in env_names]
    return f" (set by {', '.join(variables)})" if variables else ""
