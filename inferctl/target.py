"""Where the product acts: an AWS account, or the local region on this machine.

This is the endpoint seam and the only place the two differ in construction: every command
(bake bookkeeping, deploy, verify, rebake, promote, prune) takes a Target and runs the same
code with its clients. ``[project] target`` picks it (the tasks' ``--local`` sets it to local).

- aws: boto3's default credential chain (or ``[aws] profile``), checked with
  sts get-caller-identity; Terraform state in S3 when ``[aws] state_bucket`` is set, else a
  local state file; app images in ECR.
- local: the local region's server (inferctl.local.moto: moto + the data plane) on loopback,
  fake credentials; state beside the server's pid, dropped when the server restarted (it
  forgot everything); app images in the local registry (there is no ECR data plane locally).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .local.docker import LOCAL_REGISTRY
from .paths import BUILD_DIR

LOCAL, AWS = "local", "aws"


@dataclass
class Target:
    name: str
    region: str
    session: object                 # boto3.Session
    endpoint: str | None = None     # None: AWS's own endpoints
    state_path: Path | None = None  # None: the S3 backend
    account: str = ""
    registry: str = ""              # where app images go instead of ECR ("" = ECR)

    @property
    def local(self) -> bool:
        return self.name == LOCAL

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint) if self.endpoint \
            else self.session.client(service)


def with_target(config: Config, local: bool | None) -> Config:
    """The config with ``[project] target`` set to local when ``local`` (a task's --local)."""
    if not local:
        return config
    return dataclasses.replace(config, project=dataclasses.replace(config.project, target=LOCAL))


def open_target(config: Config, server=None, say=print) -> Target:
    """The Target of ``[project] target``; for local, the region's server is started if needed.

    ``server``: the inferctl.local.moto.Moto to use (default: this machine's one; tests run their own).
    """
    if config.project.target == LOCAL:
        from .local import moto
        server = server or moto.DEFAULT
        endpoint = server.start()
        state = server.state_dir / f"terraform-{config.project.name}.tfstate"
        if server.fresh and state.exists():
            say(f"target: the local region was restarted, dropping its stale Terraform state {state}")
            state.unlink()
        session = server.session(config.aws.region)
        account = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
        return Target(LOCAL, config.aws.region, session, endpoint, state, account=account,
                      registry=LOCAL_REGISTRY)
    from .bake.preflight import open_session
    session, account = open_session(config.aws.region, config.aws.profile)
    state = None if config.aws.state_bucket else BUILD_DIR / "terraform-state" / f"{config.project.name}.tfstate"
    return Target(AWS, config.aws.region, session, None, state, account=account)


class Clients:
    """boto3 clients of the config's target, opened on first use (checking a URL needs no AWS).

    ``given`` clients (tests, a caller that has them) are used as they are."""

    def __init__(self, config: Config, **given):
        self.config = config
        self.given = {service: client for service, client in given.items() if client is not None}
        self._target: Target | None = None

    def __call__(self, service: str):
        if service in self.given:
            return self.given[service]
        self._target = self._target or open_target(self.config)
        return self._target.client(service)
