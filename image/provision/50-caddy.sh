#!/usr/bin/env bash
# Caddy in front of the active slot; the updater's timer (and its schedule), the log shipper and
# unattended-upgrades on.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile >/dev/null 2>&1 \
  || { caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile; die "Caddyfile invalid"; }
systemctl enable caddy.service unattended-upgrades.service inference-update.timer \
  inference-update-schedule.service inference-logship.service
systemctl restart caddy.service
systemctl start inference-update-schedule.service inference-update.timer
for _ in $(seq 50); do
  curl --silent --fail --max-time 2 --output /dev/null http://127.0.0.1/health && break
  sleep 0.2
done
curl --silent --fail --max-time 2 --output /dev/null http://127.0.0.1/health \
  || die "Caddy on :80 does not serve the app's /health"
log "serving through Caddy on :80"
