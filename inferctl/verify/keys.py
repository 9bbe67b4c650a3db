"""Where verify gets the service's API key: flag, environment, file, or the deployment itself.

In order: --api-key, $INFERCTL_API_KEY, --api-key-file (first non-comment line), the first key
of the SSM parameter /<project>/api-keys (inferctl.api_keys; deploy creates it, the hosts read it
at boot) when the endpoint is on AWS, then the key file of the host behind the endpoint
(/etc/inference/api-keys; without the parameter a host makes its own key at first boot),
read as root over the spec channel (SSM Run Command on AWS, nsenter locally): no SSH.
"""

from __future__ import annotations

import os
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from ..api_keys import first_key as _first_key
from ..api_keys import parameter_name
from ..config import Config
from ..errors import UserError
from ..target import Clients
from .targets import Endpoint

ENV = "INFERCTL_API_KEY"
HOST_KEYS_FILE = "/etc/inference/api-keys"


def _from_host(url: str) -> str | None:
    from ..hostspec import runner

    result = runner.host(url).run("cat %s", HOST_KEYS_FILE)
    return _first_key(result.stdout) if result.rc == 0 else None


def _from_ssm(config: Config, ssm) -> str | None:
    name = parameter_name(config.project.name)
    try:
        if ssm is None:
            ssm = Clients(config)("ssm")
        return _first_key(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise UserError(f"cannot read SSM parameter {name}: {exc.response['Error']['Code']}") from None
    except BotoCoreError:
        return None  # no credentials or endpoint: fall through to the "no key" error


def api_key(config: Config, endpoint: Endpoint, *, flag: str = "", file: str = "", ssm=None) -> str:
    if flag:
        return flag
    if os.environ.get(ENV):
        return os.environ[ENV]
    if file:
        try:
            key = _first_key(Path(file).read_text())
        except OSError as exc:
            raise UserError(f"cannot read the API key file {file}: {exc.strerror}") from None
        if not key:
            raise UserError(f"the API key file {file} holds no key")
        return key
    key = None
    if endpoint.host and endpoint.host.startswith("ssm://"):
        key = _from_ssm(config, ssm)
    if key is None and endpoint.host:
        key = _from_host(endpoint.host)
    if key:
        return key
    raise UserError(f"no API key to verify {endpoint.url} with",
                    hint=f"pass --api-key, set {ENV}, give --api-key-file, or store it in the SSM "
                         f"parameter {parameter_name(config.project.name)}")
