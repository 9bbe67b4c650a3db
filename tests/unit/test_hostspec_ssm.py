"""The SSM testinfra backend: output mapping with a stubbed client, the protocol against moto."""

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from inferctl.hostspec import ssm as ssm_backend
from inferctl.errors import UserError

INSTANCE = "i-0123456789abcdef0"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def ssm():
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _sent(stub, command="echo hi"):
    stub.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}},
                      {"InstanceIds": [INSTANCE], "DocumentName": "AWS-RunShellScript", "Comment": ANY,
                       "TimeoutSeconds": ANY, "Parameters": {"commands": [command], "executionTimeout": ANY}})


def _invocation(stub, status, code=-1, out="", err="", details=None):
    stub.add_response("get_command_invocation",
                      {"CommandId": COMMAND_ID, "InstanceId": INSTANCE, "Status": status,
                       "StatusDetails": details or status, "ResponseCode": code,
                       "StandardOutputContent": out, "StandardErrorContent": err},
                      {"CommandId": COMMAND_ID, "InstanceId": INSTANCE})


def _host(client):
    return ssm_backend.host(f"ssm://{INSTANCE}?region=eu-west-1&timeout=60", client=client)


def test_stdout_and_exit_code_after_polling(ssm, monkeypatch):
    client, stub = ssm
    monkeypatch.setattr(ssm_backend.time, "sleep", lambda s: None)
    _sent(stub)
    stub.add_client_error("get_command_invocation", "InvocationDoesNotExist")  # not registered yet
    _invocation(stub, "InProgress")
    _invocation(stub, "Success", 0, out="hi\n")
    result = _host(client).run("echo hi")
    assert (result.rc, result.stdout, result.stderr) == (0, "hi\n", "")
    assert result.succeeded


def test_failed_command_maps_exit_code_and_stderr(ssm, monkeypatch):
    client, stub = ssm
    monkeypatch.setattr(ssm_backend.time, "sleep", lambda s: None)
    _sent(stub, "systemctl is-active caddy")
    _invocation(stub, "Failed", 3, out="inactive\n", err="boom\n")
    result = _host(client).run("systemctl is-active caddy")
    assert (result.rc, result.stdout, result.stderr) == (3, "inactive\n", "boom\n")
    assert result.failed


def test_testinfra_modules_work_over_the_backend(ssm, monkeypatch):
    client, stub = ssm
    monkeypatch.setattr(ssm_backend.time, "sleep", lambda s: None)
    _sent(stub, "cat /etc/hostname")
    _invocation(stub, "Success", 0, out="web-1\n")
    assert _host(client).check_output("cat /etc/hostname") == "web-1"


def test_instance_not_managed_by_ssm_is_a_clear_error(ssm):
    client, stub = ssm
    stub.add_client_error("send_command", "InvalidInstanceId", "Instances not in a valid state")
    with pytest.raises(UserError, match=f"{INSTANCE} is not managed by SSM") as err:
        _host(client).run("true")
    assert "ssm-agent policy" in err.value.hint


def test_undeliverable_command_is_an_error_not_an_exit_code(ssm, monkeypatch):
    client, stub = ssm
    monkeypatch.setattr(ssm_backend.time, "sleep", lambda s: None)
    _sent(stub, "true")
    _invocation(stub, "Failed", -1, details="Undeliverable")
    with pytest.raises(UserError, match="Undeliverable") as err:
        _host(client).run("true")
    assert "SSM agent" in err.value.hint


def test_command_that_never_finishes_times_out_and_is_cancelled(ssm):
    client, stub = ssm
    _sent(stub, "sleep 1000")
    _invocation(stub, "InProgress")
    _invocation(stub, "InProgress")
    stub.add_response("cancel_command", {}, {"CommandId": COMMAND_ID, "InstanceIds": [INSTANCE]})
    now = iter([0.0, 10.0, 1000.0])
    with pytest.raises(UserError, match="did not finish within 5s"):
        ssm_backend.run_command(client, INSTANCE, "sleep 1000", timeout=5,
                                sleep=lambda s: None, clock=lambda: next(now))


def test_ssm_side_timeout_is_reported(ssm, monkeypatch):
    client, stub = ssm
    monkeypatch.setattr(ssm_backend.time, "sleep", lambda s: None)
    _sent(stub, "sleep 1000")
    _invocation(stub, "TimedOut", -1, details="ExecutionTimedOut")
    with pytest.raises(UserError, match="TimedOut"):
        _host(client).run("sleep 1000")


def test_cut_output_is_an_error(ssm, monkeypatch):
    client, stub = ssm
    monkeypatch.setattr(ssm_backend.time, "sleep", lambda s: None)
    _sent(stub, "journalctl")
    _invocation(stub, "Success", 0, out="x" * ssm_backend.INLINE_OUTPUT_LIMIT)
    with pytest.raises(UserError, match="cut"):
        _host(client).run("journalctl")


@pytest.mark.parametrize("url", ["ssh://i-0abc", "ssm://web-1", "ssm://i-0abc?user=root"])
def test_bad_urls(url):
    with pytest.raises(UserError):
        ssm_backend.parse_url(url)


def test_protocol_against_moto(monkeypatch):
    """moto records the command as sent and answers Success with empty output."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        image = ec2.register_image(Name="host", RootDeviceName="/dev/sda1")["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        host = ssm_backend.host(f"ssm://{instance}?region=eu-west-1")
        result = host.run("test -f %s", "/etc/inference/defaults.env")
        assert result.rc == 0
        [sent] = boto3.client("ssm", region_name="eu-west-1").list_commands(InstanceId=instance)["Commands"]
        assert sent["DocumentName"] == "AWS-RunShellScript"
        assert sent["Parameters"]["commands"] == ["test -f /etc/inference/defaults.env"]
        assert sent["Parameters"]["executionTimeout"] == ["120"]
