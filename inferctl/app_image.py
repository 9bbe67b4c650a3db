"""Build the app's container image (falcon_app/Dockerfile) and say what was built.

The build runs on the local daemon (started if needed) with the classic builder, since
Debian's docker.io has no buildx. Without a reachable `python:3.11-slim` the local
debootstrap base image stands in. An extra CA (a TLS-intercepting proxy's, or this
machine's whole bundle) is staged into a copy of the build context as extra-ca.pem,
where only the builder stage reads it. The user's model ([app] model) and its known
answers are staged into the context's model/bundled/; the build installs onnxruntime,
checks the model against its answers and fails with that check's one line if it is wrong.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


from .errors import UserError
from .local.base_image import ensure_base_image
from .local.docker import ensure_daemon
from .paths import APP_DIR, BUILD_DIR, REPO, ensure
from .shell import log_tail, output, require, run_with_heartbeat

DEFAULT_TAG = "inference:dev"
OFFICIAL_BASE = "python:3.11-slim"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
EXTRAS = ("", "onnx")
LOG = BUILD_DIR / "app-image-build.log"
BUNDLED = "model/bundled"                 # in the build context; /app/falcon_app/model/bundled in the image
IMAGE_APP_DIR = "/app/falcon_app"
CHECK_PREFIX = "known answers: "          # falcon_app/model/known_answers.py's lines


@dataclass(frozen=True)
class BundledModel:
    """The user's model and what the image needs to know of it (config [app])."""
    path: Path
    known_answers: Path
    model_id: str = ""
    features: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    threads: int = 1

    @classmethod
    def from_config(cls, config) -> "BundledModel | None":
        app = config.app
        if not app.model:
            return None
        model = cls(path=config.path(app.model), known_answers=config.path(app.known_answers),
                    model_id=app.model_id, features=tuple(app.features), classes=tuple(app.classes),
                    threads=app.model_threads)
        for key, path in (("model", model.path), ("known_answers", model.known_answers)):
            if not path.is_file():
                raise UserError(f"[app] {key} {path} is not a file",
                                hint="relative paths start at the config file's folder")
        return model

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def stage(self, context: Path) -> None:
        folder = context / BUNDLED
        folder.mkdir(parents=True)
        shutil.copyfile(self.path, folder / "model.onnx")
        shutil.copyfile(self.known_answers, folder / "answers.json")

    def build_args(self, sha256: str) -> dict[str, str]:
        return {"MODEL_PATH": f"{IMAGE_APP_DIR}/{BUNDLED}/model.onnx",
                "KNOWN_ANSWERS": f"{IMAGE_APP_DIR}/{BUNDLED}/answers.json",
                "MODEL_ID": self.model_id, "MODEL_FEATURES": ",".join(self.features),
                "MODEL_CLASSES": ",".join(self.classes), "MODEL_INTRA_OP_THREADS": str(self.threads),
                "MODEL_SHA256": sha256}


@dataclass(frozen=True)
class ImageRef:
    ref: str    # the tag that was built
    id: str     # sha256:... image id
    size: int   # bytes, uncompressed

    def __str__(self) -> str:
        return f"{self.ref} {self.id} {self.size / 1e6:.1f} MB"


def host_ca_bundle() -> Path | None:
    """This machine's CA bundle: what pip inside the build needs where TLS is intercepted."""
    return HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else None


def image_exists(ref: str) -> bool:
    return subprocess.run([require("docker"), "image", "inspect", ref],
                          capture_output=True).returncode == 0


def pinned(ref: str) -> str:
    """An immutable reference to the local image ``ref``, what the build starts FROM: its registry
    digest (name@sha256:...) when it was pulled from one, else its image id (sha256:..., a local
    base such as the debootstrap one). A tag can move between two builds; these cannot."""
    digests = output(["docker", "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}",
                      ref]).split()
    return digests[0] if digests else output(["docker", "image", "inspect", "--format", "{{.Id}}", ref]).strip()


def inspect(ref: str) -> ImageRef:
    image_id, size = output(["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", ref]).split()
    return ImageRef(ref=ref, id=image_id, size=int(size))


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def app_version() -> str:
    """falcon_app's __version__, read from its source (the orchestration imports nothing from the app)."""
    match = re.search(r'^__version__ = "([^"]+)"', (APP_DIR / "__init__.py").read_text(), re.M)
    if not match:
        raise UserError(f"no __version__ in {APP_DIR / '__init__.py'}")
    return match.group(1)


def revision() -> str:
    """The last commit that changed falcon_app/ (the whole build context), -dirty with local changes.

    Not HEAD: a commit elsewhere in the repo must not change the image's digest, or every
    commit would look like a new app to the nightly rebake.
    """
    commit = _git("log", "-1", "--format=%H", "--", str(APP_DIR)) or "unknown"
    dirty = _git("status", "--porcelain", "--", str(APP_DIR))
    return f"{commit}-dirty" if dirty else commit


def _stage_context(dest: Path, extra_ca: Path | None) -> Path:
    shutil.copytree(APP_DIR, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "extra-ca.pem"))
    if extra_ca is not None:
        if not extra_ca.is_file() or "BEGIN CERTIFICATE" not in extra_ca.read_text(errors="replace"):
            raise UserError(f"extra CA {extra_ca} is not a PEM certificate file",
                            hint="pass a PEM file (-----BEGIN CERTIFICATE-----), e.g. your proxy's CA")
        shutil.copyfile(extra_ca, dest / "extra-ca.pem")
    return dest


def model_tag(tag: str, sha256: str) -> str:
    """The image's second tag, naming its model: <repository>:model-<first 12 of its sha256>."""
    return f"{tag.rsplit(':', 1)[0] if ':' in tag.rsplit('/', 1)[-1] else tag}:model-{sha256[:12]}"


def build_for(config, tag: str) -> ImageRef:
    """The image the config describes (its model, if any), with this machine's CA for pip."""
    return build(tag, extra_ca=host_ca_bundle(), model=BundledModel.from_config(config))


def build(tag: str = DEFAULT_TAG, base_image: str | None = None, extra_ca: str | Path | None = None,
          extras: str = "", model: BundledModel | None = None) -> ImageRef:
    """Build falcon_app/Dockerfile as `tag` (with ``model`` inside, also tagged model-<sha>);
    return its id and size."""
    if extras not in EXTRAS:
        raise UserError(f"unknown extras {extras!r}", hint="use '' (default) or 'onnx'")
    sha256 = model.sha256 if model else ""
    if model:
        extras = "onnx"
    ensure_daemon()
    if base_image is None:
        base_image = OFFICIAL_BASE if image_exists(OFFICIAL_BASE) else ensure_base_image()
    elif not image_exists(base_image):
        raise UserError(f"base image {base_image} is not on this machine",
                        hint="pull it first, or leave it out to use the local debootstrap base image")
    source = _git("config", "--get", "remote.origin.url") or "https://github.com/inferctl/inferctl"
    base = pinned(base_image)
    args = {"BASE_IMAGE": base, "BASE_NAME": base_image, "BASE_DIGEST": base.rsplit("@", 1)[-1],
            "VERSION": app_version(), "REVISION": revision(), "SOURCE": source, "EXTRAS": extras,
            **(model.build_args(sha256) if model else {})}
    ensure(LOG.parent)
    with tempfile.TemporaryDirectory(prefix="app-image-") as tmp:
        context = _stage_context(Path(tmp) / "context", Path(extra_ca) if extra_ca else None)
        if model:
            model.stage(context)
        tags = [tag, model_tag(tag, sha256)] if model else [tag]
        cmd = [require("docker"), "build", *[a for t in tags for a in ("-t", t)],
               *[a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")], str(context)]
        print(f"app image: building {tag} from {base_image} ({base}) (log: {LOG})", flush=True)
        code = run_with_heartbeat(cmd, LOG, label=f"app image: building {tag}",
                                  env=dict(os.environ, DOCKER_BUILDKIT="0"))
    if code != 0:
        text = LOG.read_text(errors="replace")
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text)     # the classic builder colours a step's stderr
        check = [line for line in plain.splitlines() if line.startswith(CHECK_PREFIX)]
        if check:   # the model failed its load or its known answers: that line says it all
            raise UserError(f"the app image's model check failed: {check[-1][len(CHECK_PREFIX):]}",
                            hint=f"full log: {LOG}")
        hint = f"full log: {LOG}"
        if "CERTIFICATE_VERIFY_FAILED" in text:
            hint = f"pip could not verify TLS: pass the CA your network needs (--extra-ca); {hint}"
        raise UserError(f"docker build of {tag} failed (exit {code}): {log_tail(LOG)}", hint=hint)
    return inspect(tag)
