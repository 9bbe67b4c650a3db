"""Settings from the environment: keys from env and file, refusals with a reason."""

import pytest

from falcon_app.auth import ApiKeys
from falcon_app.settings import Settings, SettingsError

KEY_A, KEY_B, KEY_C = "a" * 20, "b" * 20, "c" * 20


def test_keys_from_env_and_file(tmp_path):
    keys = tmp_path / "api-keys"
    keys.write_text(f"# rotated 2026-01\n{KEY_B}\n\n  {KEY_C}  \n{KEY_A}\n")
    settings = Settings.from_env({"API_KEYS": f"{KEY_A}, {KEY_B}", "API_KEYS_FILE": str(keys)})
    assert settings.api_keys == (KEY_A, KEY_B, KEY_C)
    assert KEY_A not in repr(settings)


def test_defaults():
    settings = Settings.from_env({"API_KEYS": KEY_A})
    assert (settings.max_body_bytes, settings.max_batch, settings.model.path) == (1 << 20, 256, "")
    assert not settings.allow_anonymous and settings.access_log


def test_values_from_env():
    settings = Settings.from_env({"ALLOW_ANONYMOUS": "true", "MAX_BATCH": "3", "MAX_BODY_BYTES": "2048",
                                  "APP_NAME": "x", "APP_VERSION": "9.9", "APP_REVISION": "abc",
                                  "LOG_LEVEL": "debug", "MODEL_PATH": "/m.onnx", "ACCESS_LOG": "off"})
    assert settings.allow_anonymous and settings.max_batch == 3 and settings.max_body_bytes == 2048
    assert (settings.name, settings.version, settings.revision, settings.log_level) == ("x", "9.9", "abc", "DEBUG")
    assert settings.model.path == "/m.onnx" and not settings.access_log


@pytest.mark.parametrize("env,message", [
    ({}, "no API keys"),
    ({"API_KEYS": "short"}, "shorter than 16"),
    ({"API_KEYS_FILE": "/nonexistent/keys"}, "API_KEYS_FILE /nonexistent/keys"),
    ({"API_KEYS": KEY_A, "MAX_BATCH": "many"}, "MAX_BATCH='many' is not an integer"),
    ({"API_KEYS": KEY_A, "MAX_BATCH": "0"}, "must be at least 1"),
    ({"API_KEYS": KEY_A, "ALLOW_ANONYMOUS": "maybe"}, "not a boolean"),
    ({"API_KEYS": KEY_A, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
])
def test_refuses_bad_settings(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("authorization,x_api_key,expected", [
    (f"Bearer {KEY_A}", None, KEY_A),
    (None, f" {KEY_B} ", KEY_B),
    (f"Bearer {KEY_A}", KEY_B, KEY_B),           # X-API-Key wins when both are sent
    ("Basic dXNlcjpwdw==", None, None),
    ("Bearer ", None, None),
    (None, None, None),
])
def test_presented_key(authorization, x_api_key, expected):
    assert ApiKeys.presented(authorization, x_api_key) == expected


def test_key_check():
    keys = ApiKeys((KEY_A, KEY_B))
    assert keys.valid(KEY_A) and keys.valid(KEY_B)
    assert not keys.valid(KEY_C) and not keys.valid(None) and not keys.valid("")
    assert not keys.valid(KEY_A + "x") and not keys.valid(KEY_A[:-1])
