#!/usr/bin/env bash
# Distribution packages: Docker Engine (docker.io), the ECR credential helper, Caddy, unattended-upgrades.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

# Services must not start with package defaults before our configuration is in place.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT

log "apt-get update"
apt_get update
log "installing ${PACKAGES[*]}"
apt_get install --no-install-recommends "${PACKAGES[@]}"
log "upgrading what the base image left behind"
apt_get upgrade
