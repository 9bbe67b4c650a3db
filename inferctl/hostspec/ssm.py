"""A testinfra backend that runs each command through SSM Run Command.

testinfra has no SSM backend, and live hosts run no sshd: every command becomes one
`AWS-RunShellScript` invocation (send_command, then poll get_command_invocation), and its
exit code, stdout and stderr become testinfra's CommandResult. Commands run as root on the
host, so testinfra's sudo wrapping is not needed. The target is `ssm://<instance-id>?region=..`.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from testinfra.backend import base

from ..errors import UserError

DOCUMENT = "AWS-RunShellScript"
# get_command_invocation returns the first 24,000 characters of stdout (and 8,000 of stderr) inline;
# a cut stdout is an error (a test would read half an answer), a cut stderr is only shorter.
INLINE_OUTPUT_LIMIT = 24000
RUNNING = {"Pending", "InProgress", "Delayed", "Cancelling"}
NOT_MANAGED_HINT = ("the SSM agent must be running and registered: the instance profile needs the "
                    "agent's permissions (the host role's ssm-agent policy) and a route to the SSM "
                    "endpoints; check with `aws ssm describe-instance-information`")


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """`ssm://i-0abc?region=eu-west-1&timeout=120` -> ("i-0abc", {"region": ..., "timeout": ...})."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "ssm" or not parsed.netloc.startswith("i-"):
        raise UserError(f"{url!r} is not an SSM target", hint="use ssm://<instance-id>?region=<region>")
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
    unknown = sorted(set(query) - {"region", "timeout"})
    if unknown:
        raise UserError(f"{url}: unknown parameter(s) {', '.join(unknown)}", hint="known: region, timeout")
    return parsed.netloc, query


def _aws_error(exc: Exception, instance_id: str) -> UserError:
    if isinstance(exc, NoCredentialsError):
        return UserError("no AWS credentials to reach SSM",
                         hint="configure a profile or role (aws configure / AWS_PROFILE)")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "InvalidInstanceId":
            return UserError(f"instance {instance_id} is not managed by SSM (or not running, or in "
                             "another region)", hint=NOT_MANAGED_HINT)
        return UserError(f"SSM call for {instance_id} failed: {code}: "
                         f"{exc.response.get('Error', {}).get('Message', '')}")
    return UserError(f"SSM call for {instance_id} failed: {exc}")


def run_command(client: Any, instance_id: str, command: str, timeout: float = 120,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> tuple[int, str, str]:
    """Run one shell command on the instance; return (exit code, stdout, stderr)."""
    try:
        sent = client.send_command(
            InstanceIds=[instance_id], DocumentName=DOCUMENT, Comment="inferctl testinfra",
            TimeoutSeconds=max(30, int(timeout)),  # delivery timeout; AWS minimum is 30
            Parameters={"commands": [command], "executionTimeout": [str(int(timeout))]})
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(exc, instance_id) from None
    command_id = sent["Command"]["CommandId"]
    deadline = clock() + timeout + 30
    delay = 0.2
    while True:
        try:
            inv = client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            # Right after send_command the invocation may not exist yet: keep polling.
            if exc.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                raise _aws_error(exc, instance_id) from None
            inv = {"Status": "Pending"}
        except BotoCoreError as exc:
            raise _aws_error(exc, instance_id) from None
        status = inv["Status"]
        if status not in RUNNING:
            break
        if clock() > deadline:
            try:
                client.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
            except (ClientError, BotoCoreError):
                pass  # best effort: the timeout below is the error worth reporting
            raise UserError(f"command on {instance_id} did not finish within {timeout:.0f}s "
                            f"(SSM status {status}): {command[:80]}",
                            hint="raise it with ?timeout=<seconds> in the ssm:// URL")
        sleep(delay)
        delay = min(delay * 2, 2.0)
    code = inv.get("ResponseCode", -1)
    if status not in ("Success", "Failed") or code < 0:
        detail = inv.get("StatusDetails", status)
        hint = NOT_MANAGED_HINT if detail in ("Undeliverable", "DeliveryTimedOut") else None
        raise UserError(f"command on {instance_id} ended as {status} ({detail}): {command[:80]}", hint=hint)
    out, err = inv.get("StandardOutputContent", ""), inv.get("StandardErrorContent", "")
    if len(out) >= INLINE_OUTPUT_LIMIT:
        raise UserError(f"output of {command[:80]!r} on {instance_id} is longer than the "
                        f"{INLINE_OUTPUT_LIMIT} characters SSM returns inline (it was cut)",
                        hint="narrow the command's output")
    return code, out, err


class SsmBackend(base.BaseBackend):
    """testinfra backend: `SsmBackend("i-0abc", region="eu-west-1")`."""

    NAME = "ssm"

    def __init__(self, instance_id: str, *args: Any, region: str | None = None, timeout: Any = 120,
                 client: Any = None, **kwargs: Any):
        self.instance_id = instance_id
        self.timeout = float(timeout)
        self._client = client
        self._region = region
        super().__init__(instance_id, *args, **kwargs)

    @property
    def client(self) -> Any:
        if self._client is None:
            # boto3 honours AWS_ENDPOINT_URL(_SSM), which is how the local stack points it at moto.
            self._client = boto3.client("ssm", region_name=self._region)
        return self._client

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        code, out, err = run_command(self.client, self.instance_id, cmd, self.timeout)
        return self.result(code, self.encode(cmd), out, err)


def host(url: str, client: Any = None):
    """A testinfra Host for an `ssm://<instance-id>?region=..` URL."""
    import testinfra.host

    instance_id, query = parse_url(url)
    try:
        timeout = float(query.get("timeout", 120))
    except ValueError:
        raise UserError(f"{url}: timeout must be a number of seconds") from None
    backend = SsmBackend(instance_id, region=query.get("region"), timeout=timeout, client=client)
    result = testinfra.host.Host(backend)
    backend.set_host(result)
    return result
