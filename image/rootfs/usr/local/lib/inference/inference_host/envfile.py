"""The one reader of the host's env files: /etc/inference/defaults.env, inference.env, slot-*.env.

The files are written as plain, unquoted ``KEY=value`` lines (the bake, user-data from Terraform,
the local deploy, the updater's slot files); systemd's EnvironmentFile=, the provisioning scripts
(``setting`` in provision/lib.bash) and this parser read those the same way. The rules, line by
line:

- blank lines and lines whose first non-blank character is ``#`` are skipped;
- ``export `` before the key is dropped (a shell can source the same file);
- the key is a shell name (``[A-Za-z_][A-Za-z0-9_]*``) directly followed by ``=``;
- the value is read as shell words (``shlex``, POSIX mode), joined with one space: ``'...'`` and
  ``"..."`` quote, a backslash escapes, and an unquoted ``#`` starts a comment (even inside a
  word: quote a value that holds one);
- a key set again, later in the file or in a later file, takes the last value.

Anything else (no ``=``, a bad key, an unclosed quote) is an EnvFileError naming ``path:line``:
a line the host programs cannot read fails them loudly rather than being skipped.

systemd reads some lines differently, which is why the files keep to plain values or a value
wholly in quotes: it ignores ``export`` lines (and lines without ``=``) and keeps what the word
reading drops (an unquoted ``#`` and what follows it, runs of spaces, quotes after the value's
first character).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ValueError):
    """A line that does not follow the rules above; the message starts with ``path:line:``."""


def parse_env_file(path: Path) -> dict[str, str]:
    """The settings of one env file (it must exist)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, raw = line.partition("=")
        if not sep or not KEY_RE.fullmatch(key):
            raise EnvFileError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise EnvFileError(f"{path}:{number}: {exc}") from None
        values[key] = " ".join(words)
    return values


def read_env_files(*paths: Path) -> dict[str, str]:
    """The files' settings merged in order, a later file overriding; a missing file adds nothing."""
    values: dict[str, str] = {}
    for path in paths:
        if path.exists():
            values.update(parse_env_file(path))
    return values
