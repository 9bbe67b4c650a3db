"""The host programs' one env-file parser (inference_host.envfile): the rules its docstring states."""

import re

import pytest

from inferctl.paths import IMAGE_DIR
from inference_host.envfile import EnvFileError, parse_env_file, read_env_files

ETC = IMAGE_DIR / "rootfs" / "etc" / "inference"


def parse(tmp_path, text):
    path = tmp_path / "settings.env"
    path.write_text(text)
    return parse_env_file(path)


def test_plain_lines_comments_and_blank_lines(tmp_path):
    text = "# baked\n\nIMAGE=r.example.com/app@sha256:ab\n   # indented comment\nDOMAIN=\n  PORT=8081  \nA=b=c\n"
    assert parse(tmp_path, text) == {"IMAGE": "r.example.com/app@sha256:ab", "DOMAIN": "", "PORT": "8081",
                                     "A": "b=c"}


def test_the_last_assignment_wins(tmp_path):
    assert parse(tmp_path, "PORT=8081\nPORT=8082\n") == {"PORT": "8082"}


def test_export_prefix_is_dropped(tmp_path):
    assert parse(tmp_path, "export INFERENCE_IMAGE=x:v1\nexport   DOMAIN=a.example.com\n") == \
        {"INFERENCE_IMAGE": "x:v1", "DOMAIN": "a.example.com"}


def test_values_are_shell_words_joined_by_one_space(tmp_path):
    text = ("SINGLE='17 * * * *'\nDOUBLE=\"a  b\"\nPLAIN=*/5  *  * * *\nESCAPED=a\\ b\nMIXED='x' y\n"
            "QUOTED_HASH=\"p#1\"\nEMPTY=''\n")
    assert parse(tmp_path, text) == {"SINGLE": "17 * * * *", "DOUBLE": "a  b", "PLAIN": "*/5 * * * *",
                                     "ESCAPED": "a b", "MIXED": "x y", "QUOTED_HASH": "p#1", "EMPTY": ""}


def test_an_unquoted_hash_starts_a_comment(tmp_path):
    assert parse(tmp_path, "HEALTH_TIMEOUT=12 # short\nFRAGMENT=http://x/#top\nWORD=a#b\n") == \
        {"HEALTH_TIMEOUT": "12", "FRAGMENT": "http://x/", "WORD": "a"}


@pytest.mark.parametrize("line", ["API_KEYS_PARAMETER /p", "KEY =value", "1KEY=value", "my-key=value",
                                  "export", "=value"])
def test_a_line_that_is_not_key_equals_value_is_an_error(tmp_path, line):
    with pytest.raises(EnvFileError, match=rf"settings\.env:2: expected KEY=VALUE, got {re.escape(repr(line))}"):
        parse(tmp_path, f"# first\n{line}\n")


def test_an_unclosed_quote_is_an_error(tmp_path):
    with pytest.raises(EnvFileError, match=r"settings\.env:1: No closing quotation"):
        parse(tmp_path, "UPDATE_SCHEDULE='17 * * * *\n")
    assert issubclass(EnvFileError, ValueError)


def test_files_merge_in_order_and_a_missing_one_adds_nothing(tmp_path):
    (tmp_path / "defaults.env").write_text("INFERENCE_IMAGE=x:stable\nHEALTH_TIMEOUT=90\n")
    (tmp_path / "inference.env").write_text("HEALTH_TIMEOUT=30\n")
    assert read_env_files(tmp_path / "defaults.env", tmp_path / "absent.env", tmp_path / "inference.env") == \
        {"INFERENCE_IMAGE": "x:stable", "HEALTH_TIMEOUT": "30"}
    assert read_env_files(tmp_path / "absent.env") == {}
    with pytest.raises(FileNotFoundError):
        parse_env_file(tmp_path / "absent.env")


@pytest.mark.parametrize("path", [ETC / "defaults.env", *sorted((ETC / "slots").glob("*.env"))],
                         ids=lambda p: p.name)
def test_the_baked_files_read_the_same_here_and_in_systemd(path):
    """Only plain KEY=value lines: no quotes, escapes, # or runs of spaces in a value, no export,
    so systemd's EnvironmentFile= and lib.bash's `setting` get exactly what this parser gets."""
    values = parse_env_file(path)
    assigned = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=[^'\"\\#\s]*( [^'\"\\#\s]+)*", line), line
        key, _, raw = line.partition("=")
        assigned[key] = raw
    assert values == assigned


def test_the_baked_defaults(tmp_path):
    values = parse_env_file(ETC / "defaults.env")
    assert values["INFERENCE_IMAGE"] == "@INFERENCE_IMAGE@" and values["DOMAIN"] == ""
    assert values["UPDATE_SCHEDULE"] == "hourly" and values["UPDATE_SPREAD"] == "15min" and values["API_KEYS_FILE"] == "/etc/inference/api-keys"
