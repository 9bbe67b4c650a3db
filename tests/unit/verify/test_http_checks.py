"""The HTTP checks against the real falcon app under gunicorn on loopback, and against wrong servers."""

import json
import socket

import pytest

from inferctl.verify import checks, known
from inferctl.verify.report import Report

from verify_servers import KEY, REPO, free_port, serve

WRONG_APP = '''
import json
def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/health":
        status, body = "200 OK", {"status": "ok"}
    elif path == "/ready":
        status, body = "503 Service Unavailable", {"error": "not ready"}
    else:  # no auth at all, and a wrong answer for every row
        rows = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
        status, body = "200 OK", {"model": "iris-softmax-v1", "predictions":
                                  [{"label": "virginica", "probabilities": {}}] * len(rows.get("instances", []))}
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
'''


@pytest.fixture(scope="module")
def wrong_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wrongapp")
    (folder / "wrongapp.py").write_text(WRONG_APP)
    yield from serve("wrongapp:app", {"PATH": "/usr/bin:/bin"}, folder)


def _opts(key=KEY, **kw):
    return checks.Options(api_key=key, known=known.load(), samples=3, timeout=5, **kw)


def _by_name(report: Report) -> dict:
    return {c.name: c for c in report.checks}


def test_real_app_passes_every_check(real_app):
    report = Report(real_app)
    checks.run(report, real_app, _opts())
    got = {name: c.status for name, c in _by_name(report).items()}
    assert got == {"reachable": "pass", "health": "pass", "ready": "pass", "infer: known answer": "pass",
                   "auth: no key": "pass", "auth: wrong key": "pass", "tls": "skip", "latency": "pass"}
    assert "p50" in _by_name(report)["latency"].detail
    assert report.exit_code() == 0


def test_wrong_key_is_reported_as_such(real_app):
    report = Report(real_app)
    checks.run(report, real_app, _opts(key="not-the-key-000000000000"))
    infer = _by_name(report)["infer: known answer"]
    assert infer.status == "fail" and "API key was rejected" in infer.detail
    assert _by_name(report)["latency"].status == "fail"
    assert report.exit_code() == 1


def test_wrong_app_fails_the_checks_that_matter(wrong_app):
    report = Report(wrong_app)
    checks.run(report, wrong_app, _opts())
    got = {name: c.status for name, c in _by_name(report).items()}
    assert got["health"] == "pass"
    assert got["ready"] == "fail"
    assert got["infer: known answer"] == "fail"
    assert "expected 'setosa'" in _by_name(report)["infer: known answer"].detail
    assert got["auth: no key"] == "fail" and got["auth: wrong key"] == "fail"
    assert report.exit_code() == 1


def test_nothing_listening_is_one_clear_failure():
    base = f"http://127.0.0.1:{free_port()}"
    report = Report(base)
    checks.run(report, base, _opts())
    reach = _by_name(report)["reachable"]
    assert reach.status == "fail"
    assert "127.0.0.1" in reach.detail and "refused the connection" in reach.detail
    assert "systemctl status caddy" in reach.detail
    assert {c.status for c in report.checks if c.name != "reachable"} == {"skip"}
    assert report.exit_code() == 1


def test_a_silent_server_times_out_with_a_clear_message():
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        report = Report(base)
        checks.run(report, base, checks.Options(api_key=KEY, known=known.load(), timeout=0.5))
    reach = _by_name(report)["reachable"]
    assert reach.status == "fail" and "did not answer within" in reach.detail


@pytest.fixture(scope="module")
def tls_app(tmp_path_factory):
    """The real app over HTTPS with a certificate from a throwaway CA, for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime as dt
    import ipaddress

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "verify test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    env = {"PATH": "/usr/bin:/bin", "API_KEYS": KEY, "PYTHONPATH": str(REPO)}
    for url in serve("falcon_app.wsgi:app", env, REPO,
                      ["--certfile", str(folder / "cert.pem"), "--keyfile", str(folder / "key.pem")]):
        yield url, str(folder / "ca.pem")


def test_tls_valid_with_the_issuing_ca(tls_app):
    url, ca = tls_app
    report = Report(url)
    checks.run(report, url, _opts(ca_file=ca), tls_host="127.0.0.1")
    tls = _by_name(report)["tls"]
    assert tls.status == "pass" and "expires in 29 days" in tls.detail
    assert report.exit_code() == 0


def test_tls_from_an_untrusted_ca_fails(tls_app):
    url, _ = tls_app
    report = Report(url)
    checks.run(report, url, _opts(), tls_host="127.0.0.1")
    reach = _by_name(report)["reachable"]
    assert reach.status == "fail" and "certificate not valid" in reach.detail
    assert report.exit_code() == 1


def test_a_domain_served_over_plain_http_fails_tls(real_app):
    report = Report(real_app)
    checks.run(report, real_app, _opts(), tls_host="infer.example.com")
    assert _by_name(report)["tls"].status == "fail"


def test_report_table_and_json(real_app, tmp_path):
    report = Report("subject-x")
    checks.run(report, real_app, _opts())
    table = report.table().splitlines()
    assert table[0].split()[:3] == ["RESULT", "TARGET", "CHECK"]
    assert table[-1].startswith("VERIFIED: 7 passed, 0 failed, 1 skipped")
    data = json.loads(report.write(tmp_path / "r" / "verify.json").read_text())
    assert data["ok"] is True and data["counts"] == {"pass": 7, "fail": 0, "skip": 1}
    assert {c["name"] for c in data["checks"]} >= {"health", "latency"}
