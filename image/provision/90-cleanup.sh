#!/usr/bin/env bash
# Last step before the snapshot: no SSH server, no per-instance state, no history.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

log "disabling and masking the SSH server (the bake's own session stays open)"
systemctl disable "${SSH_UNITS[@]}" 2>/dev/null || true
systemctl mask "${SSH_UNITS[@]}"

log "removing per-instance state"
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*
if command -v cloud-init >/dev/null 2>&1; then
  cloud-init clean --logs --seed
fi
rm -rf /var/lib/cloud/instances /var/lib/cloud/instance /var/lib/cloud/data /var/lib/cloud/sem
for user in root $BOOTSTRAP_USERS; do
  home="$(getent passwd "$user" | cut -d: -f6 || true)"
  [ -n "$home" ] || continue
  rm -f "$home/.ssh/authorized_keys" "$home/.bash_history"
done

log "removing the log shipper's resume point (a cursor into the bake's journal)"
rm -rf /var/lib/inference/logship

log "removing Caddy's storage (its instance id, the internal CA the bake's start made) and what the"
log "certificate store knew: each instance has its own, or restores the stack's from CERT_BUCKET"
rm -rf /var/lib/caddy/.local/share/caddy /var/lib/inference/certstore

log "emptying the API keys: each instance makes or gets its own"
truncate -s 0 /etc/inference/api-keys

log "removing the registry tokens the bake's pulls cached (ECR's are good for 12 hours)"
rm -rf /root/.ecr /root/.cache/ecr
# the updater's unit may write only there (ReadWritePaths=): the credential helper's cache folder
install -d -m 0700 -o root -g root /root/.ecr

log "removing apt lists, caches and logs"
apt-get clean
rm -rf /var/lib/apt/lists/*
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find /var/log -type f -name '*.log' -exec truncate -s 0 {} +
truncate -s 0 /var/log/wtmp /var/log/btmp /var/log/lastlog 2>/dev/null || true
# Archive the active journal files, then drop every archive (what built this image).
journalctl --rotate --quiet
find /var/log/journal -type f \( -name '*@*.journal' -o -name '*.journal~' \) -delete

# What this image is and when it was cleaned: a booted host proves its machine-id is its own
# (written after cleaned_at), and the spec knows whose SSH access had to go.
python3 - "$BOOTSTRAP_USERS" <<'PY'
import json, os, sys, time
pinned = open(f"/var/lib/inference/slot-{os.environ['SLOT']}.env").read().strip().partition("=")[2]
info = {"cleaned_at": time.time(), "bootstrap_users": sys.argv[1].split(), "image": pinned,
        "distribution": open("/etc/os-release").read().split("PRETTY_NAME=")[1].splitlines()[0].strip('"')}
with open("/etc/inference/image-info.json.tmp", "w") as out:
    out.write(json.dumps(info, indent=2) + "\n")
os.replace("/etc/inference/image-info.json.tmp", "/etc/inference/image-info.json")
PY
log "clean"
