"""What `verify --host X` means: the HTTP endpoints to check and the hosts to run the spec on.

X may be
- a URL: ``http(s)://name[:port]`` (just that endpoint; a local host's address also gets its spec),
- a local host: ``nspawn://<machine>`` or a local host's name,
- an EC2 instance id ``i-...`` (or ``ssm://i-...``), or a tag filter ``tag=Key:Value`` (every
  running instance carrying it), in the config's target (AWS, or the local region),
- a DNS name: the endpoint ``http(s)://name``, and the spec on every running instance of the
  project: tagged Project=<name> (the single instance), or in the Auto Scaling group named
  after the project (the fleet; its instances do not get the provider's default tags).
The single service instance, when a domain is set, is checked at https://<fqdn> (Caddy serves
only that name); any other instance (e.g. a rebake canary) at http://<its address>.
The channel to an instance (``channel``) is the one seam here: SSM on AWS, nsenter into the
local host when the local region runs the instance (its address is then its private IP: the
region's public IPs are not real).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ..config import DOMAIN_RE, Config
from ..errors import UserError
from ..local.host import LocalHost
from ..target import Clients

INSTANCE_RE = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
TAG_RE = re.compile(r"^tag=([^:=]+):(.*)$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
RUNNING = {"Name": "instance-state-name", "Values": ["running"]}
PROJECT_TAG = "Project"


@dataclass(frozen=True)
class Endpoint:
    url: str                    # http(s)://host[:port], no path
    tls_host: str | None = None  # the domain whose certificate must be valid, when one is set
    host: str | None = None      # spec URL of a host behind it (where its API key can be read)


@dataclass
class Plan:
    subject: str
    endpoints: list[Endpoint] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)   # testinfra target URLs for the live spec


def resolve(target: str, config: Config, ec2=None, autoscaling=None) -> Plan:
    """Turn the --host argument into a Plan; the target's clients are made on demand when not given."""
    clients = Clients(config, ec2=ec2, autoscaling=autoscaling)
    target = target.strip()
    if not target:
        raise UserError("empty --host", hint="give a URL, a DNS name, an instance id or tag=Key:Value")
    if target.startswith(("http://", "https://")):
        return _url(target, config)
    if target.startswith("nspawn://"):
        return _local(target.removeprefix("nspawn://").strip("/"))
    if target in LocalHost.names():
        return _local(target)
    region = config.aws.region
    if target.startswith("ssm://"):
        parsed = urllib.parse.urlparse(target)
        target = parsed.netloc
        region = dict(urllib.parse.parse_qsl(parsed.query)).get("region", region)
    if INSTANCE_RE.match(target):
        return _instances(target, _describe(clients, region, InstanceIds=[target]), region, config)
    tag = TAG_RE.match(target)
    if tag:
        key, value = tag.groups()
        found = _describe(clients, region, Filters=[{"Name": f"tag:{key}", "Values": [value]}, RUNNING])
        if not found:
            raise UserError(f"no running instance in {region} has tag {key}={value}",
                            hint="check the tag and [aws] region (aws ec2 describe-instances --filters ...)")
        return _instances(target, found, region, config)
    if target.startswith("i-"):
        raise UserError(f"{target!r} is not a valid EC2 instance id", hint="ids look like i-0123456789abcdef0")
    if HOSTNAME_RE.match(target) and "." in target:
        return _dns_name(target, config, clients, region)
    raise UserError(f"cannot tell what {target!r} is",
                    hint="give http(s)://..., a DNS name, nspawn://<machine>, i-<id> or tag=Key:Value")


def _url(url: str, config: Config) -> Plan:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise UserError(f"{url!r} has no host name")
    base = f"{parts.scheme}://{parts.netloc}"
    tls_host = parts.hostname if parts.scheme == "https" else _domain_of(parts.hostname, config)
    hosts = [f"nspawn://{name}" for name in LocalHost.names() if LocalHost.load(name).address == parts.hostname]
    return Plan(url, [Endpoint(base, tls_host, hosts[0] if hosts else None)], hosts)


def _domain_of(hostname: str, config: Config) -> str | None:
    """The configured domain when the name is in it: its certificate must then be valid."""
    if config.dns.domain and (hostname == config.dns.domain or hostname.endswith("." + config.dns.domain)):
        return hostname
    return None


def _local(name: str) -> Plan:
    if name not in LocalHost.names():
        known = ", ".join(LocalHost.names()) or "none"
        raise UserError(f"no local host named {name!r} (local hosts: {known})",
                        hint="start one: invoke demo (or deploy --local)")
    host = LocalHost.load(name)
    if not host.address:
        raise UserError(f"local host {name} has no address (not booted?)", hint="invoke demo or deploy --local")
    url = f"nspawn://{name}"
    return Plan(url, [Endpoint(f"http://{host.address}", host=url)], [url])


def _describe(clients: Clients, region: str, **query) -> list[dict]:
    try:
        pages = clients("ec2").get_paginator("describe_instances").paginate(**query)
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    except NoCredentialsError:
        raise UserError("no AWS credentials to look up instances",
                        hint="configure a profile or role (aws configure, AWS_PROFILE), or give the URL") from None
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            raise UserError(f"instance {', '.join(query.get('InstanceIds', []))} not found in {region}",
                            hint="check the id and [aws] region") from None
        raise UserError(f"describe_instances failed: {code}: {exc.response['Error'].get('Message', '')}") from None
    except BotoCoreError as exc:
        raise UserError(f"cannot reach EC2 in {region}: {exc}") from None


def channel(instance_id: str, region: str) -> str:
    """The spec target of an instance: nsenter into its local host when the local region runs it
    (the host is named after the instance), else SSM Run Command."""
    if instance_id in LocalHost.names():
        return f"nspawn://{instance_id}"
    return f"ssm://{instance_id}?region={region}"


def _instances(subject: str, instances: list[dict], region: str, config: Config) -> Plan:
    plan = Plan(subject)
    for inst in instances:
        state = inst["State"]["Name"]
        if state != "running":
            raise UserError(f"instance {inst['InstanceId']} is {state}, not running",
                            hint="start it, or verify another instance")
        url = channel(inst["InstanceId"], region)
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        local = url.startswith("nspawn://")
        address = inst.get("PrivateIpAddress") if local else inst.get("PublicIpAddress") or inst.get("PrivateIpAddress")
        if config.fqdn and config.compute.mode == "single" and tags.get(PROJECT_TAG) == config.project.name:
            plan.endpoints.append(Endpoint(f"https://{config.fqdn}", config.fqdn, host=url))
        elif address:
            plan.endpoints.append(Endpoint(f"http://{address}", host=url))
        plan.hosts.append(url)
    return plan


def _fleet_instances(clients: Clients, config: Config) -> list[str]:
    try:
        groups = clients("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[config.project.name])["AutoScalingGroups"]
    except (ClientError, BotoCoreError):
        return []  # no fleet (or no access to it): the tagged instances are all there is
    return [i["InstanceId"] for g in groups for i in g.get("Instances", []) if i.get("LifecycleState") == "InService"]


def _dns_name(name: str, config: Config, clients: Clients, region: str) -> Plan:
    if not DOMAIN_RE.match(name.lower()) and not name.endswith(".amazonaws.com"):
        raise UserError(f"{name!r} is not a DNS name")
    tls_host = _domain_of(name, config)
    scheme = "https" if tls_host else "http"
    found = _describe(clients, region, Filters=[{"Name": f"tag:{PROJECT_TAG}", "Values": [config.project.name]},
                                                RUNNING])
    ids = [i["InstanceId"] for i in found]
    ids += [i for i in _fleet_instances(clients, config) if i not in ids]
    hosts = [channel(i, region) for i in ids]
    return Plan(name, [Endpoint(f"{scheme}://{name}", tls_host, hosts[0] if hosts else None)], hosts)
