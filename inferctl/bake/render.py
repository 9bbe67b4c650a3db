"""Render the Packer templates in packer/ (jinja2) to plain HCL under build/packer/.

Values are computed in Python and written into the HCL as literals, so a rendered file is
self-contained: what was built can be read back from build/ (and parsed, see `parse`).
Every value goes through the `hcl` filter, which quotes and escapes it, so a tag holding
`${` or a quote cannot change the template's meaning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import jinja2
from hcl2.utils import SerializationOptions

from ..errors import UserError
from ..paths import PACKER_DIR, ensure

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def hcl_string(value: str) -> str:
    """A quoted HCL string literal; `${` and `%{` are escaped so they stay literal text."""
    return json.dumps(value, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")


def hcl(value: Any) -> str:
    """Any plain Python value (str, bool, int, list, dict) as an HCL literal."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()  # the template names a value the renderer does not give
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        return hcl_map(value)
    raise TypeError(f"cannot render {type(value).__name__} as HCL")


def _key(name: str) -> str:
    return name if IDENTIFIER.match(name) else hcl_string(name)


def hcl_map(values: dict, raw: dict[str, str] | None = None, indent: int = 2) -> str:
    """A multi-line HCL map whose closing brace sits at `indent`; `raw` entries are HCL
    expressions written as they are."""
    pad = " " * (indent + 2)
    lines = [f"{pad}{_key(k)} = {hcl(v)}" for k, v in values.items()]
    lines += [f"{pad}{_key(k)} = {expr}" for k, expr in (raw or {}).items()]
    return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"


def hcl_env(values: dict[str, str]) -> str:
    """A dict as Packer's environment_vars list (KEY=value)."""
    return hcl([f"{k}={v}" for k, v in values.items()])


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKER_DIR), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters.update(hcl=hcl, hcl_map=hcl_map, hcl_env=hcl_env)
    return env


def render(template: str, dest_dir: Path, context: dict[str, Any]) -> Path:
    """Render packer/<template> into dest_dir (one template per folder, as Packer reads folders)."""
    try:
        text = _environment().get_template(template).render(**context)
    except jinja2.UndefinedError as exc:
        raise UserError(f"packer/{template}: {exc.message}",
                        hint="the template uses a value the renderer does not provide") from None
    out = ensure(dest_dir) / template.removesuffix(".j2")
    out.write_text(text)
    parse(out)  # fail here, with the file name, rather than inside Packer
    return out


def parse(path: Path) -> dict:
    """Parse rendered HCL into plain Python data (quotes stripped, blocks as lists of dicts)."""
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    try:
        return hcl2.loads(path.read_text(), serialization_options=options)
    except Exception as exc:  # python-hcl2 raises lark errors of several kinds
        raise UserError(f"{path}: rendered Packer template is not valid HCL: {exc}") from None
