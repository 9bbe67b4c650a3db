#!/usr/bin/env bash
# Pre-pull the app image (so a boot never pulls), pin it to the blue slot by digest, start it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

source_ref="${INFERENCE_PIN:-$INFERENCE_IMAGE}"
log "pulling $source_ref"
docker pull --quiet "$source_ref" >/dev/null
repo="${INFERENCE_IMAGE%:*}"
pinned="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$source_ref" \
  | grep -m1 "^${repo}@sha256:" || true)"
[ -n "$pinned" ] || die "no digest for $source_ref in repository $repo"
digest="${pinned#*@}"
log "pinned $pinned"

printf 'IMAGE=%s\n' "$pinned" > /var/lib/inference/slot-"${SLOT}".env.tmp
mv /var/lib/inference/slot-"${SLOT}".env.tmp /var/lib/inference/slot-"${SLOT}".env
# Caddy proxies to active.sock: point it at the slot's socket (new link renamed over the old one).
ln -sfn "/run/inference/slot-${SLOT}/app.sock" /var/lib/inference/active.sock.tmp
mv -T /var/lib/inference/active.sock.tmp /var/lib/inference/active.sock
python3 - "$SLOT" "$digest" <<'PY'
import json, os, sys
state = {"active_slot": sys.argv[1], "current": sys.argv[2], "previous": None, "bad": [],
         "last_check": None, "last_result": {"event": "baked", "ok": True}}
with open("/var/lib/inference/state.json.tmp", "w") as out:
    out.write(json.dumps(state, indent=2, sort_keys=True) + "\n")
os.replace("/var/lib/inference/state.json.tmp", "/var/lib/inference/state.json")
PY

systemctl enable inference-api-keys.service
systemctl start inference-api-keys.service

# Exactly the active slot is enabled: a boot starts it, and only it.
systemctl disable --now inference@green.service 2>/dev/null || true
systemctl enable "inference@${SLOT}.service"
systemctl restart "inference@${SLOT}.service"
log "slot $SLOT healthy on 127.0.0.1:$SLOT_PORT"
