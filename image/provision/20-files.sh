#!/usr/bin/env bash
# Lay the recipe's files (image/rootfs) onto the host, then the users, modes and sysctls they need.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

[ -n "$INFERENCE_IMAGE" ] || die "INFERENCE_IMAGE is not set (the tracked image reference, repo:tag)"
[[ "$INFERENCE_IMAGE" != *@* ]] || die "INFERENCE_IMAGE must be a tag reference, got a digest: $INFERENCE_IMAGE"

log "installing files from $IMAGE_ROOT/rootfs"
# The host programs' package is replaced whole: no module of an earlier install is left behind.
rm -rf /usr/local/lib/inference/inference_host
cp -r --no-preserve=ownership --preserve=mode "$IMAGE_ROOT/rootfs/." /
sed -i "s|@INFERENCE_IMAGE@|${INFERENCE_IMAGE}|" /etc/inference/defaults.env
if [ "$SHARED_KERNEL" = 1 ]; then
  log "shared kernel (container): kernel-wide sysctls not installed"
  rm -f /etc/sysctl.d/61-inference-kernel.conf
fi
find /etc/inference /etc/caddy /etc/systemd/system /etc/sysctl.d /etc/docker -type f -exec chmod 0644 {} +
[ ! -f /usr/local/sbin/inference-update ] || chmod 0755 /usr/local/sbin/inference-update
chmod 0755 /usr/local/lib/inference/wait-healthy /usr/local/lib/inference/api-keys /usr/local/lib/inference/logship \
  /usr/local/lib/inference/certstore
# The package the Python entry points import (inference_host): bytecode compiled here by the
# host's python3 (a syntax error fails the bake; none from the uploading machine is kept), and
# like the rest of /usr/local/lib/inference root's and writable by root only.
find /usr/local/lib/inference/inference_host -name __pycache__ -type d -prune -exec rm -rf {} +
python3 -m compileall -q /usr/local/lib/inference/inference_host
find /usr/local/lib/inference -type d -exec chmod 0755 {} +
find /usr/local/lib/inference/inference_host -type f -exec chmod 0644 {} +

# The container's user (CONTAINER_USER=10001:10001) exists on the host too, so files it must
# read (the API keys) can be group-owned by it.
getent group inference >/dev/null || groupadd --system --gid 10001 inference
getent passwd inference >/dev/null || useradd --system --uid 10001 --gid 10001 --no-create-home \
  --home-dir /nonexistent --shell /usr/sbin/nologin inference
if [ ! -f /etc/inference/api-keys ]; then
  install -m 0640 -o root -g inference /dev/null /etc/inference/api-keys
fi
chown root:inference /etc/inference/api-keys
chmod 0640 /etc/inference/api-keys
install -d -m 0755 -o root -g root /var/lib/inference
# The updater's units may write only there (ReadWritePaths=): the folder must exist before they start.
install -d -m 0755 -o root -g root /etc/systemd/system/inference-update.timer.d

log "applying sysctls and journald limits"
for conf in /etc/sysctl.d/60-inference-*.conf /etc/sysctl.d/61-inference-*.conf; do
  [ ! -f "$conf" ] || sysctl --quiet --load="$conf"
done
systemctl restart systemd-journald
systemctl daemon-reload
