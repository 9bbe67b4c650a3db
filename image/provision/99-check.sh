#!/usr/bin/env bash
# Fails the bake if cleanup left per-instance state or an SSH server behind
# (as amazon-eks-ami's validate step does). Prints every problem, then exits 1 if any.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

problems=0
fail() { echo "provision[$STEP]: LEFTOVER: $*" >&2; problems=$((problems + 1)); }

[ ! -s /etc/machine-id ] || fail "/etc/machine-id is not empty"
[ ! -e /var/lib/dbus/machine-id ] || fail "/var/lib/dbus/machine-id exists"
compgen -G '/etc/ssh/ssh_host_*' >/dev/null && fail "ssh host keys: $(echo /etc/ssh/ssh_host_*)"
for dir in /var/lib/cloud/instances /var/lib/cloud/instance /var/lib/cloud/sem; do
  [ ! -e "$dir" ] || fail "cloud-init state $dir"
done
for user in root $BOOTSTRAP_USERS; do
  home="$(getent passwd "$user" | cut -d: -f6 || true)"
  [ -z "$home" ] || [ ! -e "$home/.ssh/authorized_keys" ] || fail "$home/.ssh/authorized_keys"
done
if [ -n "$(find /var/lib/apt/lists -mindepth 1 -maxdepth 1 ! -name lock ! -name partial -print -quit)" ]; then
  fail "apt lists in /var/lib/apt/lists"
fi
leftover_logs="$(find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' -o -name '*@*.journal' \) | head -5)"
[ -z "$leftover_logs" ] || fail "old logs: $leftover_logs"
[ ! -s /etc/inference/api-keys ] || fail "API keys in /etc/inference/api-keys"
[ ! -e /var/lib/inference/logship/cursor ] || fail "the log shipper's cursor in /var/lib/inference/logship"
[ ! -e /var/lib/caddy/.local/share/caddy/pki ] || fail "a Caddy CA in /var/lib/caddy/.local/share/caddy/pki"
[ ! -e /var/lib/inference/certstore ] || fail "the certificate store's manifest in /var/lib/inference/certstore"
for unit in "${SSH_UNITS[@]}"; do
  state="$(systemctl is-enabled "$unit" 2>/dev/null || true)"
  [ "$state" = masked ] || fail "$unit is '$state', not masked"
done

if [ "$problems" -gt 0 ]; then
  echo "provision[$STEP]: $problems leftover(s): the image is not clean" >&2
  exit 1
fi
log "clean"
