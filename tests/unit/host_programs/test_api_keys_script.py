"""The on-host API keys program (inference_host.keys, run by /usr/local/lib/inference/api-keys),
in-process against a moto server on loopback (SSM) and a fake IMDSv2 on another loopback port,
both found through the AWS SDKs' endpoint variables."""

import grp
import json
import os
import stat
import threading
from http.server import ThreadingHTTPServer

import pytest

from inference_host import aws, sigv4
from inference_host import keys as api_keys
from inference_host.imds import endpoint as metadata_endpoint

from fake_aws import CREDS, REGION, Imds


@pytest.fixture
def host(tmp_path, imds, moto):
    """An /etc/inference with the baked defaults and the environment pointing at the fakes."""
    (tmp_path / "defaults.env").write_text(f"API_KEYS_FILE={tmp_path}/api-keys\nDOMAIN=\n"
                                           "API_KEYS_RETRY_SECONDS=0\n")   # retries: tests of their own
    (tmp_path / "api-keys").write_text("")
    return {"INFERENCE_API_KEYS_ETC": str(tmp_path), "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds,
            "AWS_ENDPOINT_URL_SSM": moto.endpoint_url(),
            "INFERENCE_API_KEYS_GROUP": grp.getgrgid(os.getgid()).gr_name}


def _configure(env, parameter):
    etc = env["INFERENCE_API_KEYS_ETC"]
    with open(f"{etc}/inference.env", "w") as out:
        out.write(f"INFERENCE_IMAGE=x:stable\nAPI_KEYS_PARAMETER={parameter}\n")
    return f"{etc}/api-keys"


def test_fetches_the_parameter_into_the_key_file(host, moto, capsys):
    moto.client("ssm", REGION).put_parameter(Name="/svc-a/api-keys", Type="SecureString",
                                             Value="first-key-0123456789\nsecond-key-0123456789")
    path = _configure(host, "/svc-a/api-keys")
    assert api_keys.main(host) == 0
    with open(path) as keys:
        assert keys.read() == "first-key-0123456789\nsecond-key-0123456789\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert "2 key(s) from SSM parameter /svc-a/api-keys" in capsys.readouterr().out
    # every boot: a rotated value replaces the file
    moto.client("ssm", REGION).put_parameter(Name="/svc-a/api-keys", Type="SecureString",
                                             Value="rotated-0123456789", Overwrite=True)
    assert api_keys.main(host) == 0
    with open(path) as keys:
        assert keys.read() == "rotated-0123456789\n"


def test_a_key_the_api_would_refuse_is_never_written(host, moto, capsys):
    """A hand-edited parameter with a short key: the API would refuse to start with it (and the
    slot crash-loop), so the unit fails, naming the rule, and the keys serving now stay."""
    moto.client("ssm", REGION).put_parameter(Name="/svc-short/api-keys", Type="SecureString",
                                             Value="long-enough-key-0123456789\nshort-key")
    path = _configure(host, "/svc-short/api-keys")
    with open(path, "w") as keys:
        keys.write("serving-key-0123456789\n")
    assert api_keys.main(host) == 1
    assert "holds 1 key(s) shorter than 16 characters, which the API refuses" in capsys.readouterr().err
    with open(path) as keys:
        assert keys.read() == "serving-key-0123456789\n"


def test_the_shortest_key_is_the_apis():
    from falcon_app.settings import Settings, SettingsError

    Settings.from_env({"API_KEYS": "k" * api_keys.MIN_KEY_LENGTH})
    with pytest.raises(SettingsError, match="shorter than"):
        Settings.from_env({"API_KEYS": "k" * (api_keys.MIN_KEY_LENGTH - 1)})


def test_missing_parameter_fails_and_leaves_the_file(host, capsys):
    path = _configure(host, "/svc-missing/api-keys")
    assert api_keys.main(host) == 1
    err = capsys.readouterr().err
    assert err.startswith("inference-api-keys: SSM GetParameter /svc-missing/api-keys in eu-west-1: "
                          "ParameterNotFound") and err.count("\n") == 1
    with open(path) as keys:
        assert keys.read() == ""


def test_keys_of_an_earlier_boot_are_kept_when_the_fetch_fails(host, capsys):
    path = _configure(host, "/svc-missing/api-keys")
    with open(path, "w") as keys:
        keys.write("old-key\n")
    assert api_keys.main(host) == 0, "a host with keys serves with them rather than not at all"
    err = capsys.readouterr().err
    assert err.startswith(f"inference-api-keys: WARNING kept the 1 key(s) already in {path}") and "ParameterNotFound" in err
    with open(path) as keys:
        assert keys.read() == "old-key\n"


class _Clock:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _down_for(monkeypatch, failures):
    """SSM unreachable for the first ``failures`` calls."""
    real, calls = aws.get_parameter, {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise aws.AwsError("SSM GetParameter: [Errno 111] Connection refused")
        return real(*args)

    monkeypatch.setattr(api_keys.aws, "get_parameter", flaky)
    return calls


def test_a_key_source_down_at_boot_is_waited_for_with_backoff(host, moto, monkeypatch, capsys):
    moto.client("ssm", REGION).put_parameter(Name="/svc-late/api-keys", Type="SecureString",
                                             Value="late-key-0123456789")
    path = _configure(host, "/svc-late/api-keys")
    with open(f"{host['INFERENCE_API_KEYS_ETC']}/inference.env", "a") as out:
        out.write("API_KEYS_RETRY_SECONDS=900\n")
    calls, clock = _down_for(monkeypatch, 7), _Clock()
    assert api_keys.main(host, sleep=clock.sleep, clock=clock) == 0
    assert clock.sleeps == [1, 2, 4, 8, 16, 30, 30] and calls["n"] == 8, "down ~90 s: waited, capped at 30 s"
    assert capsys.readouterr().err.count("retrying in") == 7
    with open(path) as keys:
        assert keys.read() == "late-key-0123456789\n"


def test_a_fetch_gives_up_after_its_budget_without_keys(host, monkeypatch, capsys):
    path = _configure(host, "/svc-down/api-keys")
    with open(f"{host['INFERENCE_API_KEYS_ETC']}/inference.env", "a") as out:
        out.write("API_KEYS_RETRY_SECONDS=20\n")
    _down_for(monkeypatch, 1000)
    clock = _Clock()
    assert api_keys.main(host, sleep=clock.sleep, clock=clock) == 1
    assert clock.sleeps == [1, 2, 4, 8] and "gave up after 5 attempt(s) in 15s" in capsys.readouterr().err
    with open(path) as keys:
        assert keys.read() == ""


def test_earlier_keys_wait_at_most_a_minute(host, monkeypatch):
    path = _configure(host, "/svc-down/api-keys")
    with open(f"{host['INFERENCE_API_KEYS_ETC']}/inference.env", "a") as out:
        out.write("API_KEYS_RETRY_SECONDS=900\n")
    with open(path, "w") as keys:
        keys.write("old-key\n")
    _down_for(monkeypatch, 1000)
    clock = _Clock()
    assert api_keys.main(host, sleep=clock.sleep, clock=clock) == 0
    assert clock.now <= api_keys.KEPT_KEYS_RETRY


class _CutOffImds(Imds):
    """An IMDSv2 whose first answers stop half-way (a connection cut while the network comes up)."""

    cut = {"left": 2}

    def _send(self, body):
        if self.cut["left"] > 0 and body is not None:
            self.cut["left"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 50))
            self.end_headers()
            self.wfile.write(body[:1])
            return
        super()._send(body)


def test_a_metadata_answer_cut_off_is_retried(host, moto, capsys):
    moto.client("ssm", REGION).put_parameter(Name="/svc-cut/api-keys", Type="SecureString",
                                             Value="cut-key-0123456789")
    path = _configure(host, "/svc-cut/api-keys")
    with open(f"{host['INFERENCE_API_KEYS_ETC']}/inference.env", "a") as out:
        out.write("API_KEYS_RETRY_SECONDS=900\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CutOffImds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        clock = _Clock()
        assert api_keys.main(host, sleep=clock.sleep, clock=clock) == 0, capsys.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
    assert clock.sleeps == [1, 2], "each cut-off answer is one failed attempt, retried"
    assert "IncompleteRead" in capsys.readouterr().err
    with open(path) as keys:
        assert keys.read() == "cut-key-0123456789\n"


def test_a_bad_retry_setting_is_named(host, capsys):
    _configure(host, "/svc-a/api-keys")
    with open(f"{host['INFERENCE_API_KEYS_ETC']}/inference.env", "a") as out:
        out.write("API_KEYS_RETRY_SECONDS=soon\n")
    assert api_keys.main(host) == 1
    assert "API_KEYS_RETRY_SECONDS='soon' is not a number of seconds" in capsys.readouterr().err


def test_no_instance_metadata_fails_clearly(host, capsys):
    path = _configure(host, "/svc-a/api-keys")
    host["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9"  # discard port: nothing listens
    assert api_keys.main(host) == 1
    err = capsys.readouterr().err
    assert "inference-api-keys: instance metadata http://127.0.0.1:9 unreachable" in err
    with open(path) as keys:
        assert keys.read() == ""


def test_an_unreadable_settings_line_fails_and_leaves_the_file(host, capsys):
    etc = host["INFERENCE_API_KEYS_ETC"]
    with open(f"{etc}/inference.env", "w") as out:
        out.write("INFERENCE_IMAGE=x:stable\nAPI_KEYS_PARAMETER /svc-a/api-keys\n")
    assert api_keys.main(host) == 1
    assert capsys.readouterr().err == (f"inference-api-keys: {etc}/inference.env:2: expected KEY=VALUE, "
                                       "got 'API_KEYS_PARAMETER /svc-a/api-keys'\n")
    with open(f"{etc}/api-keys") as keys_file:
        assert keys_file.read() == "", "no random key made in place of the parameter's"


def test_without_a_parameter_an_empty_file_gets_one_key(host):
    path = f"{host['INFERENCE_API_KEYS_ETC']}/api-keys"
    assert api_keys.main(host) == 0
    with open(path) as keys:
        lines = keys.read().splitlines()
    assert len(lines) == 1 and len(lines[0]) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_without_a_parameter_existing_keys_stay(host):
    path = f"{host['INFERENCE_API_KEYS_ETC']}/api-keys"
    with open(path, "w") as keys:
        keys.write("operator-key\n")
    before = os.stat(path).st_mtime_ns
    assert api_keys.main(host) == 0
    with open(path) as keys:
        assert keys.read() == "operator-key\n"
    assert os.stat(path).st_mtime_ns == before


def test_the_ssm_endpoint_is_chosen_as_the_sdks_choose_it():
    assert aws.endpoint_url("ssm", REGION, {}) == "https://ssm.eu-west-1.amazonaws.com/"
    general = {"AWS_ENDPOINT_URL": "http://10.99.0.1:4566"}
    assert aws.endpoint_url("ssm", REGION, general) == "http://10.99.0.1:4566/"
    both = {"AWS_ENDPOINT_URL": "http://10.99.0.1:4566/", "AWS_ENDPOINT_URL_SSM": "http://ssm.internal:8080/"}
    assert aws.endpoint_url("ssm", REGION, both) == "http://ssm.internal:8080/"
    assert aws.endpoint_url("ssm", REGION, {**general, "AWS_ENDPOINT_URL_SSM": ""}) == "http://10.99.0.1:4566/"
    assert aws.endpoint_url("ssm", REGION, {"AWS_ENDPOINT_URL_EC2": "http://ec2.internal"}) == \
        "https://ssm.eu-west-1.amazonaws.com/", "another service's endpoint is not SSM's"


def test_the_metadata_service_is_the_link_local_address_unless_set():
    assert metadata_endpoint({}) == "http://169.254.169.254"
    assert metadata_endpoint({"AWS_ENDPOINT_URL": "http://10.99.0.1:4566"}) == "http://169.254.169.254"
    assert metadata_endpoint({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://10.99.0.1:8000/"}) == \
        "http://10.99.0.1:8000"


def test_the_general_endpoint_setting_reaches_ssm(host, moto):
    moto.client("ssm", REGION).put_parameter(Name="/svc-general/api-keys", Type="SecureString",
                                             Value="general-key-0123456789")
    host["AWS_ENDPOINT_URL"] = host.pop("AWS_ENDPOINT_URL_SSM")
    path = _configure(host, "/svc-general/api-keys")
    assert api_keys.main(host) == 0
    with open(path) as keys_file:
        assert keys_file.read() == "general-key-0123456789\n"


def test_the_ssm_endpoint_setting_wins_over_the_general_one(host, moto):
    moto.client("ssm", REGION).put_parameter(Name="/svc-ssm/api-keys", Type="SecureString",
                                             Value="ssm-key-0123456789")
    host["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # discard port: used, the fetch would fail
    path = _configure(host, "/svc-ssm/api-keys")
    assert api_keys.main(host) == 0
    with open(path) as keys_file:
        assert keys_file.read() == "ssm-key-0123456789\n"


def test_signature_matches_botocore(monkeypatch):
    import datetime

    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = "https://ssm.eu-west-1.amazonaws.com/"
    body = b'{"Name": "/p/api-keys", "WithDecryption": true}'
    base = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter"}
    ours = sigv4.sign(CREDS, REGION, "ssm", url, base, body, "20261127T050000Z")

    monkeypatch.setattr(auth, "get_current_datetime", lambda *a, **k: datetime.datetime(2026, 11, 27, 5, 0, 0))
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(base))
    auth.SigV4Auth(Credentials(CREDS["AccessKeyId"], CREDS["SecretAccessKey"], CREDS["Token"]),
                   "ssm", REGION).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == "session-token" and ours["X-Amz-Date"] == "20261127T050000Z"


# --- the fleet's record of bad digests (inference_host.bad_digests), the same SSM ----------------

def test_the_fleet_record_of_bad_digests_in_ssm(host, moto):
    from inference_host.bad_digests import BadDigests
    digest = "sha256:" + "ab" * 32
    env = {key: value for key, value in host.items() if key.startswith("AWS_")}
    record = BadDigests("/svc-b/bad-digests", env)
    assert record.lookup(digest) is None
    assert record.publish(digest, "smoke_failed", "POST /api/infer: HTTP 500") is True
    assert record.publish(digest, "unhealthy", "a second host's reason") is False     # never overwritten
    found = record.lookup(digest)
    assert (found["event"], found["reason"], found["digest"]) == ("smoke_failed", "POST /api/infer: HTTP 500", digest)
    stored = moto.client("ssm", REGION).get_parameter(Name="/svc-b/bad-digests/" + "ab" * 32)["Parameter"]
    assert stored["Type"] == "String"
    with pytest.raises(ValueError):
        record.name("latest")
    unreachable = BadDigests("/svc-b/bad-digests", {**env, "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9"})
    with pytest.raises(aws.AwsError, match="SSM GetParameter /svc-b/bad-digests/abab"):
        unreachable.lookup(digest)
