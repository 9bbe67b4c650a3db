# shellcheck shell=bash
# Sourced by every provisioning step. The ONE place where the targets differ:
#   Ubuntu 24.04 on EC2 (the AMI)   vs   Debian 12 in systemd-nspawn (the local host).
# Inputs (environment, set by the bake):
#   INFERENCE_IMAGE    tracked reference, repo:tag (required), e.g.
#                      123456789012.dkr.ecr.eu-west-1.amazonaws.com/inference:stable
#   INFERENCE_PIN      repo@sha256:... to pre-pull (optional; default: what the tag points at now)
#   INSECURE_REGISTRY  host:port of a plain-HTTP registry (local only: 10.99.0.1:5000)
#   ECR_REGISTRY       ECR registry host for the credential helper (default: INFERENCE_IMAGE's
#                      host when it is an ECR host)
set -euo pipefail

IMAGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEP="$(basename "$0" .sh)"
export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "provision[$STEP]: $*"; }
die() { echo "provision[$STEP]: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root"

# shellcheck source=/dev/null
. /etc/os-release
case "${ID}:${VERSION_ID}" in
  ubuntu:24.04|ubuntu:22.04)
    BOOTSTRAP_USERS="ubuntu" ;;
  debian:12)
    BOOTSTRAP_USERS="admin" ;;
  *)
    die "unsupported distribution ${ID} ${VERSION_ID} (Ubuntu 24.04/22.04 or Debian 12)" ;;
esac

# The local host shares this machine's kernel: kernel-wide sysctls would change the machine
# running it, so only the per-network-namespace ones are installed there.
if systemd-detect-virt --container --quiet; then
  SHARED_KERNEL=1
else
  SHARED_KERNEL=0
fi

INFERENCE_IMAGE="${INFERENCE_IMAGE:-}"
INFERENCE_PIN="${INFERENCE_PIN:-}"
INSECURE_REGISTRY="${INSECURE_REGISTRY:-}"
image_host="${INFERENCE_IMAGE%%/*}"
if [ -z "${ECR_REGISTRY:-}" ] && [[ "$image_host" =~ ^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com$ ]]; then
  ECR_REGISTRY="$image_host"
fi
ECR_REGISTRY="${ECR_REGISTRY:-}"

# Packages: the same names on both distributions.
# shellcheck disable=SC2034  # used by the steps that source this file
PACKAGES=(docker.io amazon-ecr-credential-helper caddy unattended-upgrades curl ca-certificates python3 iptables)
# shellcheck disable=SC2034
SSH_UNITS=(ssh.service ssh.socket)
SLOT=blue
SLOT_PORT=8081

apt_get() {
  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold -y -q "$@"
}

# Values of defaults.env with inference.env on top, as the units see them.
setting() {
  local key="$1" value=""
  for file in /etc/inference/defaults.env /etc/inference/inference.env; do
    [ -f "$file" ] || continue
    if grep -q "^${key}=" "$file"; then
      value="$(grep "^${key}=" "$file" | tail -n1 | cut -d= -f2-)"
    fi
  done
  printf '%s' "$value"
}

export IMAGE_ROOT BOOTSTRAP_USERS SHARED_KERNEL INFERENCE_IMAGE INFERENCE_PIN INSECURE_REGISTRY ECR_REGISTRY SLOT SLOT_PORT
