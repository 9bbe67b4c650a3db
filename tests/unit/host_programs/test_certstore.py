"""The certificate store (inference_host.certstore, s3) in-process: a Caddy storage folder in, S3
(a moto server on loopback) out and back, with a fake IMDSv2 for the role's credentials."""

import datetime
import os
import stat
import time
import uuid

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from inference_host import backoff, certstore, s3, sigv4
from inference_host.aws import AwsError

from fake_aws import CREDS, REGION

from inferctl.paths import IMAGE_DIR

DOMAIN = "svc.example.test"
CERT = f"certificates/local/{DOMAIN}/{DOMAIN}.crt"
KEY = f"certificates/local/{DOMAIN}/{DOMAIN}.key"
ROOT_KEY = "pki/authorities/local/root.key"


@pytest.fixture
def bucket_name(moto):
    name = f"certs-{uuid.uuid4().hex[:16]}"
    moto.client("s3", REGION).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def env(imds, moto, tmp_path, bucket_name):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "defaults.env").write_text("DOMAIN=\nCERT_BUCKET=\nCERT_RESTORE_SECONDS=60\n")
    (etc / "inference.env").write_text(f"DOMAIN={DOMAIN}\nCERT_BUCKET={bucket_name}\n")
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds, "AWS_ENDPOINT_URL": moto.endpoint_url(),
            "INFERENCE_CERTSTORE_ETC": str(etc), "INFERENCE_CERTSTORE_STORAGE": str(tmp_path / "caddy"),
            "INFERENCE_CERTSTORE_STATE": str(tmp_path / "state")}


def caddy_storage(root, files: dict[str, bytes], age: float = 60) -> None:
    """Files as Caddy writes them (0600 in 0700 folders), last changed ``age`` seconds ago."""
    for relative, body in files.items():
        path = root / relative
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_bytes(body)
        path.chmod(0o600)
        os.utime(path, (time.time() - age, time.time() - age))


def objects(moto, name) -> dict[str, bytes]:
    client = moto.client("s3", REGION)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", [])]
    return {key: client.get_object(Bucket=name, Key=key)["Body"].read() for key in keys}


def instance(env, tmp_path, name):
    """The same program on another instance: its own storage and state folders."""
    return {**env, "INFERENCE_CERTSTORE_STORAGE": str(tmp_path / name / "caddy"),
            "INFERENCE_CERTSTORE_STATE": str(tmp_path / name / "state")}


def test_save_puts_the_kept_folders_once_and_a_restore_hands_them_on(env, moto, bucket_name, tmp_path, capsys):
    storage = tmp_path / "caddy"
    caddy_storage(storage, {CERT: b"cert-1", KEY: b"key-1", ROOT_KEY: b"ca-key", "acme/ca/users/a/a.json": b"{}",
                            "instance.uuid": b"per-instance", "locks/x.lock": b"lock", "last_clean.json": b"{}"})
    assert certstore.main(["save"], env) == 0
    assert objects(moto, bucket_name) == {f"caddy/{CERT}": b"cert-1", f"caddy/{KEY}": b"key-1",
                                          f"caddy/{ROOT_KEY}": b"ca-key", "caddy/acme/ca/users/a/a.json": b"{}"}
    assert '"put": 4' in capsys.readouterr().out
    # nothing new: nothing sent (the manifest), then a renewal: that file only
    assert certstore.main(["save"], env) == 0 and '"put": 0' in capsys.readouterr().out
    caddy_storage(storage, {CERT: b"cert-2"})
    assert certstore.main(["save"], env) == 0 and '"put": 1' in capsys.readouterr().out
    assert objects(moto, bucket_name)[f"caddy/{CERT}"] == b"cert-2"

    # the next instance: an empty storage gets every kept file, as Caddy would have written it
    nxt = instance(env, tmp_path, "next")
    assert certstore.main(["restore"], nxt) == 0
    assert '"written": 4' in capsys.readouterr().out
    restored = tmp_path / "next" / "caddy"
    assert (restored / CERT).read_bytes() == b"cert-2" and (restored / ROOT_KEY).read_bytes() == b"ca-key"
    assert not (restored / "instance.uuid").exists() and not (restored / "locks").exists()
    assert stat.S_IMODE((restored / KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE((restored / "certificates" / "local").stat().st_mode) == 0o700
    # what it restored is in its manifest: its first save sends nothing back
    assert certstore.main(["save"], nxt) == 0 and '"put": 0' in capsys.readouterr().out


def test_the_issuer_is_put_before_what_it_signed(env, moto, bucket_name, tmp_path, monkeypatch):
    """A save cut short never leaves a certificate in the bucket without its CA and account."""
    caddy_storage(tmp_path / "caddy", {CERT: b"cert", ROOT_KEY: b"ca-key", "acme/ca/users/a/a.json": b"{}"})
    put = []
    monkeypatch.setattr(s3.Bucket, "put", lambda self, key, body: put.append(key))
    assert certstore.main(["save"], env) == 0
    assert put == [f"caddy/{ROOT_KEY}", "caddy/acme/ca/users/a/a.json", f"caddy/{CERT}"]


def test_restore_keeps_what_the_instance_already_has(env, moto, bucket_name, tmp_path, capsys):
    moto.client("s3", REGION).put_object(Bucket=bucket_name, Key=f"caddy/{CERT}", Body=b"older")
    caddy_storage(tmp_path / "caddy", {CERT: b"this instance's own, newer"})
    assert certstore.main(["restore"], env) == 0
    assert '"written": 0, "kept": 1' in capsys.readouterr().out
    assert (tmp_path / "caddy" / CERT).read_bytes() == b"this instance's own, newer"


def test_a_file_caddy_may_still_be_writing_waits_for_the_next_run(env, moto, bucket_name, tmp_path):
    caddy_storage(tmp_path / "caddy", {CERT: b"half"}, age=0)
    assert certstore.main(["save"], env) == 0
    assert objects(moto, bucket_name) == {}


@pytest.mark.parametrize("key", ["caddy/../etc/passwd", "caddy/instance.uuid", "caddy/locks/x.lock",
                                 "caddy//certificates/x", "caddy/certificates"])
def test_restore_refuses_keys_outside_the_kept_folders(env, moto, bucket_name, tmp_path, capsys, key):
    client = moto.client("s3", REGION)
    client.put_object(Bucket=bucket_name, Key=key, Body=b"planted")
    client.put_object(Bucket=bucket_name, Key=f"caddy/{CERT}", Body=b"cert")
    assert certstore.main(["restore"], env) == 0
    assert "key_refused" in capsys.readouterr().err
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["caddy/" + CERT, "etc/defaults.env", "etc/inference.env", "state/manifest.json"]


def test_many_keys_are_listed_over_pages(env, moto, bucket_name):
    client = moto.client("s3", REGION)
    for i in range(1003):
        client.put_object(Bucket=bucket_name, Key=f"caddy/ocsp-like/{i:04d}", Body=b"")
    bucket = s3.Bucket(bucket_name, REGION, CREDS, env)
    assert len(bucket.keys("caddy/")) == 1003


@pytest.mark.parametrize("settings", ["DOMAIN=\n", "CERT_BUCKET=\n"])
def test_without_a_domain_or_a_bucket_nothing_is_kept(env, tmp_path, capsys, settings):
    (tmp_path / "etc" / "inference.env").write_text(f"DOMAIN={DOMAIN}\nCERT_BUCKET=b\n" + settings)
    assert certstore.main(["restore"], {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}) == 0
    assert "not_kept" in capsys.readouterr().out


def test_an_unreadable_bucket_is_retried_then_the_unit_fails(env, tmp_path, capsys):
    """A missing bucket (or S3 down) through the whole budget: exit 1 and the reason; Caddy starts
    anyway (it only wants this unit)."""
    (tmp_path / "etc" / "inference.env").write_text(f"DOMAIN={DOMAIN}\nCERT_BUCKET=no-such-bucket\n")
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
    assert certstore.main(["restore"], env, sleep=sleep, clock=lambda: now[0]) == 1
    err = capsys.readouterr().err
    assert "restore_failed" in err and "NoSuchBucket" in err and "gave up after" in err
    assert slept[:4] == [1, 2, 4, 8] and sum(slept) <= 60


@pytest.mark.parametrize("argv", [[], ["sync"], ["save", "extra"]])
def test_bad_arguments_are_refused(env, argv, capsys):
    assert certstore.main(argv, env) == 2 and "usage" in capsys.readouterr().err


def test_a_bad_setting_is_a_config_error(env, tmp_path, capsys):
    (tmp_path / "etc" / "inference.env").write_text(f"DOMAIN={DOMAIN}\nCERT_BUCKET=b\nCERT_RESTORE_SECONDS=soon\n")
    assert certstore.main(["restore"], env) == 2 and "CERT_RESTORE_SECONDS" in capsys.readouterr().err


def test_backoff_gives_up_within_its_budget():
    now, calls = [0.0], []

    def fail():
        calls.append(now[0])
        raise AwsError("down")
    with pytest.raises(backoff.GaveUp, match="down .gave up after 5 attempt"):
        backoff.retry(fail, 20, "t", sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert calls == [0, 1, 3, 7, 15]


def test_the_s3_signature_is_the_sdks(monkeypatch):
    """Our SigV4 for an S3 GET with a query string, byte for byte what botocore signs."""
    url = "https://b.s3.eu-west-1.amazonaws.com/?continuation-token=a%2Fb%3D&list-type=2&prefix=caddy%2F"
    amz_date = "20261204T101500Z"
    ours = sigv4.sign(CREDS, REGION, "s3", url, {"x-amz-content-sha256": sigv4.hashlib.sha256(b"").hexdigest()},
                      b"", amz_date, method="GET")
    request = botocore.awsrequest.AWSRequest(method="GET", url=url, headers={
        "x-amz-content-sha256": sigv4.hashlib.sha256(b"").hexdigest(), "X-Amz-Date": amz_date})
    creds = botocore.credentials.Credentials(CREDS["AccessKeyId"], CREDS["SecretAccessKey"], CREDS["Token"])
    monkeypatch.setattr(botocore.auth, "get_current_datetime",      # the same moment as ours
                        lambda: datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    botocore.auth.S3SigV4Auth(creds, "s3", REGION).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]


def test_the_storage_is_the_one_the_caddyfile_names():
    caddyfile = (IMAGE_DIR / "rootfs/etc/caddy/Caddyfile").read_text()
    assert f"\tstorage file_system {certstore.STORAGE}\n" in caddyfile
