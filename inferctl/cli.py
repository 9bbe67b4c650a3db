"""Glue between invoke tasks and the package: clean one-line errors, no tracebacks."""

from __future__ import annotations

import functools
import sys

from invoke import Exit

from .errors import UserError


def clean_errors(fn):
    """Turn a UserError into 'error: ...' on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise Exit(code=2) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise Exit(code=130) from None

    return wrapper
