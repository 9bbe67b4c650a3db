"""Registry credentials go only to the registry's own origin, and over plain HTTP only to a registry
docker would talk plain HTTP to: redirects lose Authorization when they leave the origin, a
challenge from where a redirect led is not answered, and a token realm gets Basic credentials only
over HTTPS (or when it is the plain-HTTP registry itself). Two loopback servers on different ports
stand for the registry and "another host" (a CDN, a token service elsewhere)."""

from __future__ import annotations

import base64
import json

import pytest
from test_updater_registry import DIGEST, Helper, Server, paths_for

from inference_host.errors import UpdateError
from inference_host.registry import Reference, Registry

BASIC = "Basic " + base64.b64encode(b"AWS:token-1").decode()


@pytest.fixture
def servers():
    registry, other = Server(), Server()
    yield registry, other
    registry.close()
    other.close()


def digest_of(tmp_path, registry, helper=None):
    helper = helper or Helper()
    client = Registry(paths_for(tmp_path, {"credHelpers": {registry.host: "ecr-login"}}), helper, timeout=5)
    return client.digest(Reference.parse(f"{registry.host}/app:stable"))


def found(method, path, headers):
    return 200, [("Docker-Content-Digest", DIGEST)], b""


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_basic_credentials_do_not_follow_a_redirect_to_another_host(tmp_path, servers, code):
    registry, other = servers
    other.route = found

    def route(method, path, headers):
        if headers.get("Authorization") != BASIC:
            return 401, [("WWW-Authenticate", 'Basic realm="https://x/"')], b""
        return code, [("Location", f"{other.url}/blobs/manifest")], b""

    registry.route = route
    assert digest_of(tmp_path, registry) == DIGEST
    assert registry.authorizations() == [None, BASIC]
    assert other.requests and other.authorizations() == [None] * len(other.requests)
    assert [method for method, _, _ in other.requests] == ["HEAD"], "a HEAD stays a HEAD"


def test_bearer_token_does_not_follow_a_redirect_to_another_host(tmp_path, servers):
    registry, other = servers
    other.route = found

    def route(method, path, headers):
        if path.startswith("/token"):
            return (200, [], b'{"token": "t0k"}') if headers.get("Authorization") == BASIC else (401, [], b"")
        if headers.get("Authorization") != "Bearer t0k":
            return 401, [("WWW-Authenticate", f'Bearer realm="{registry.url}/token",service="reg"')], b""
        return 307, [("Location", f"{other.url}/v2/app/manifests/stable")], b""

    registry.route = route
    assert digest_of(tmp_path, registry) == DIGEST
    assert registry.authorizations() == [None, BASIC, "Bearer t0k"], "the plain-HTTP registry's own realm"
    assert other.authorizations() == [None]


def test_a_redirect_on_the_same_origin_keeps_the_credentials(tmp_path, servers):
    registry, _ = servers

    def route(method, path, headers):
        if headers.get("Authorization") != BASIC:
            return 401, [("WWW-Authenticate", 'Basic realm="https://x/"')], b""
        if path.endswith("/"):
            return found(method, path, headers)
        return 307, [("Location", f"{path}/")], b""

    registry.route = route
    assert digest_of(tmp_path, registry) == DIGEST
    assert registry.authorizations() == [None, BASIC, BASIC]


def test_token_request_redirected_to_another_host_loses_the_basic_credentials(tmp_path, servers):
    registry, other = servers
    other.route = lambda method, path, headers: (200, [], b'{"token": "anonymous"}')

    def route(method, path, headers):
        if path.startswith("/token"):
            return 307, [("Location", f"{other.url}/token")], b""
        if headers.get("Authorization") != "Bearer anonymous":
            return 401, [("WWW-Authenticate", f'Bearer realm="{registry.url}/token"')], b""
        return found(method, path, headers)

    registry.route = route
    assert digest_of(tmp_path, registry) == DIGEST
    assert registry.authorizations() == [None, BASIC, "Bearer anonymous"]
    assert other.authorizations() == [None]


@pytest.mark.parametrize("challenge", ["Basic realm=\"x\"", "Bearer realm=\"{other}/token\",service=\"evil\""])
def test_a_challenge_from_where_a_redirect_led_is_not_answered(tmp_path, servers, challenge):
    registry, other = servers
    other.route = lambda method, path, headers: (401, [("WWW-Authenticate", challenge.format(other=other.url))], b"")
    registry.route = lambda method, path, headers: (307, [("Location", f"{other.url}/v2/app/manifests/stable")], b"")
    helper = Helper()
    with pytest.raises(UpdateError, match=f"redirected to {other.host}, which asks for credentials") as exc:
        digest_of(tmp_path, registry, helper)
    assert exc.value.event == "auth_error"
    assert helper.calls == [] and other.authorizations() == [None]
    assert registry.authorizations() == [None]


def test_plain_http_realm_on_another_host_gets_no_credentials(tmp_path, servers):
    registry, other = servers
    other.route = lambda method, path, headers: (401, [], b"")
    registry.route = lambda method, path, headers: (
        401, [("WWW-Authenticate", f'Bearer realm="{other.url}/token",service="reg"')], b"")
    with pytest.raises(UpdateError, match=f"credentials not sent to {other.url}/token: not HTTPS"):
        digest_of(tmp_path, registry)
    assert other.authorizations() == [None]

    other.route = lambda method, path, headers: (200, [], json.dumps({"access_token": "public"}).encode())
    registry.route = lambda method, path, headers: (
        found(method, path, headers) if headers.get("Authorization") == "Bearer public"
        else (401, [("WWW-Authenticate", f'Bearer realm="{other.url}/token"')], b""))
    assert digest_of(tmp_path, registry) == DIGEST, "an anonymous token still serves a public image"
    assert all(auth is None for auth in other.authorizations())


def test_which_token_realms_may_see_credentials(tmp_path):
    registry = Registry(paths_for(tmp_path, daemon={"insecure-registries": ["10.99.0.1:5000"]}))
    allowed = registry._realm_may_see_credentials
    hub, local = Reference.parse("inference:stable"), Reference.parse("10.99.0.1:5000/app:stable")
    assert allowed("https://auth.docker.io/token", hub)
    assert allowed("https://elsewhere.example/token", local), "HTTPS, as docker does"
    assert allowed("http://10.99.0.1:5000/token", local), "the allowed plain-HTTP registry itself"
    assert not allowed("http://10.99.0.1:5001/token", local)
    assert not allowed("http://auth.docker.io/token", hub)
    assert not allowed("http://registry-1.docker.io/token", hub), "docker.io is not an insecure registry"
    (tmp_path / "unlisted").mkdir()
    unlisted = Registry(paths_for(tmp_path / "unlisted", daemon={}))
    assert not unlisted._realm_may_see_credentials("http://10.99.0.1:5000/token", local)
