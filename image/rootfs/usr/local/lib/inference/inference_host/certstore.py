"""inference-certstore: Caddy's certificates and keys kept in S3 (CERT_BUCKET), so the next
instance of a single-instance stack serves the certificate the one before it had from its first
second. Without it each roll asked the ACME issuer again, could not pass the challenge before the
Elastic IP had moved (HTTPS down after every roll) and spent the issuer's rate limits.

``restore`` (inference-certstore-restore.service, before caddy.service): each object under
``caddy/`` that this instance's Caddy storage lacks is written there (mode 0600, folders 0700, as
Caddy writes them). Files already here are kept: after a reboot the instance's own storage is the
newest. A bucket that cannot be read is retried with backoff for CERT_RESTORE_SECONDS (default
60), then the unit fails and Caddy starts anyway, to issue anew.

``save`` (inference-certstore-save.timer, each minute): the storage's certificates, ACME accounts
and internal CA (FOLDERS) go to the bucket when their content differs from what this instance
last put or restored (SHA-256 digests in the state folder's manifest), so a quiet minute reads
local files only. A file changed in the last seconds waits for the next run (Caddy may be
writing it). Objects are never deleted: the bucket keeps versions, and Caddy itself drops the
expired certificates a restore brings back.

Without DOMAIN or CERT_BUCKET (inference.env) both exit 0 at once. One JSON line per event.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path, PurePosixPath

from . import aws, backoff, imds, s3
from .config import read_env
from .errors import ConfigError
from .files import write_atomic

ETC = Path("/etc/inference")
STORAGE = Path("/var/lib/caddy/.local/share/caddy")   # the Caddyfile's `storage file_system` root
STATE = Path("/var/lib/inference/certstore")
PREFIX = "caddy/"
FOLDERS = ("pki", "acme", "certificates")   # not locks/, instance.uuid, last_clean.json: per instance
# in that order: a certificate in the bucket means the CA and account that issued it are there too
SETTLE_SECONDS = 2.0


def log(event: str, level: str = "info", **fields) -> None:
    print(json.dumps({"event": event, "level": level, **fields}), file=sys.stderr if level == "error" else sys.stdout,
          flush=True)


def storage_key(relative: str) -> str | None:
    """The bucket key of a storage file (a path relative to the storage root), or None when that
    file is not one to keep. Also the check on every key a restore reads: nothing outside FOLDERS,
    no absolute path, no `..`."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or path.parts[0] not in FOLDERS or len(path.parts) < 2 \
            or any(part in ("", ".", "..") for part in path.parts) or str(path) != relative:
        return None
    return PREFIX + relative


class CertStore:
    def __init__(self, bucket: s3.Bucket, storage: Path, state: Path):
        self.bucket, self.storage, self.manifest_path = bucket, storage, state / "manifest.json"

    def manifest(self) -> dict[str, str]:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}     # none yet, or unreadable: the next save puts every file once more

    def _record(self, manifest: dict[str, str]) -> None:
        write_atomic(self.manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n", mode=0o600)

    def restore(self) -> tuple[int, int]:
        """(files written, files already here)."""
        manifest, written, kept = self.manifest(), 0, 0
        for key in self.bucket.keys(PREFIX):
            relative = key[len(PREFIX):]
            if storage_key(relative) != key:
                log("key_refused", "error", key=key, reason="not a Caddy storage path this program keeps")
                continue
            target = self.storage / relative
            if target.exists():
                kept += 1
                continue
            body = self.bucket.get(key)
            self.storage.mkdir(mode=0o700, parents=True, exist_ok=True)
            for folder in reversed(target.relative_to(self.storage).parents):
                (self.storage / folder).mkdir(mode=0o700, exist_ok=True)
            write_atomic(target, body, mode=0o600)
            manifest[key] = hashlib.sha256(body).hexdigest()
            written += 1
        self._record(manifest)
        return written, kept

    def save(self, now: float) -> int:
        """Files put in the bucket."""
        manifest, put = self.manifest(), 0
        for path in (p for folder in FOLDERS for p in sorted((self.storage / folder).rglob("*")) if p.is_file()):
            key = storage_key(path.relative_to(self.storage).as_posix())
            if key is None or now - path.stat().st_mtime < SETTLE_SECONDS:
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()
            if manifest.get(key) == digest:
                continue
            self.bucket.put(key, body)
            manifest[key] = digest
            self._record(manifest)
            put += 1
        return put


def main(argv: list[str] | None = None, env=None, *, sleep=time.sleep, clock=time.monotonic) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if argv not in (["restore"], ["save"]):
        print("usage: certstore restore|save", file=sys.stderr)
        return 2
    etc = Path(env.get("INFERENCE_CERTSTORE_ETC", ETC))
    try:
        settings = read_env(etc / "defaults.env", etc / "inference.env")
        budget = float(settings.get("CERT_RESTORE_SECONDS") or 60)
    except ConfigError as exc:
        log("config_error", "error", reason=str(exc))
        return 2
    except ValueError:
        log("config_error", "error", reason=f"CERT_RESTORE_SECONDS={settings['CERT_RESTORE_SECONDS']!r} is not a number")
        return 2
    name, domain = settings.get("CERT_BUCKET", ""), settings.get("DOMAIN", "")
    if not (name and domain):
        log("not_kept", reason="DOMAIN or CERT_BUCKET is not set (inference.env): certificates stay on this instance")
        return 0

    def store() -> CertStore:
        """With the role's credentials of now (they rotate)."""
        return CertStore(s3.Bucket(name, *imds.instance_identity(imds.endpoint(env)), env),
                         Path(env.get("INFERENCE_CERTSTORE_STORAGE", STORAGE)),
                         Path(env.get("INFERENCE_CERTSTORE_STATE", STATE)))

    try:
        if argv == ["restore"]:
            written, kept = backoff.retry(lambda: store().restore(), budget, "inference-certstore",
                                          sleep=sleep, clock=clock)
            log("restored", bucket=name, written=written, kept=kept)
        else:
            log("saved", bucket=name, put=store().save(time.time()))
    except (backoff.GaveUp, aws.AwsError, OSError) as exc:
        log(f"{argv[0]}_failed", "error", bucket=name, reason=str(exc))
        return 1
    return 0
