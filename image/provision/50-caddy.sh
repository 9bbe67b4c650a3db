#!/usr/bin/env bash
# Caddy in front of the active slot; the updater's timer (and its schedule), the log shipper, the
# certificate store's saves and unattended-upgrades on.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

# As Caddy's user: validating provisions the apps, and the internal CA's files it makes in the
# Caddyfile's storage must stay Caddy's (root's would keep caddy.service from starting).
validate=(runuser -u caddy -- caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile)
"${validate[@]}" >/dev/null 2>&1 || { "${validate[@]}"; die "Caddyfile invalid"; }
systemctl enable caddy.service unattended-upgrades.service inference-update.timer \
  inference-update-schedule.service inference-logship.service inference-certstore-save.timer
systemctl restart caddy.service || {
  journalctl -u inference-certstore-restore.service -u caddy.service -n 40 --no-pager -o cat >&2 || true
  die "caddy.service did not start (its journal above)"
}
systemctl start inference-update-schedule.service inference-update.timer
for _ in $(seq 50); do
  curl --silent --fail --max-time 2 --output /dev/null http://127.0.0.1/health && break
  sleep 0.2
done
curl --silent --fail --max-time 2 --output /dev/null http://127.0.0.1/health \
  || die "Caddy on :80 does not serve the app's /health"
log "serving through Caddy on :80"
