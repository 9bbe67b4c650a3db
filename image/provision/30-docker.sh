#!/usr/bin/env bash
# Docker: daemon.json (plus the local plain-HTTP registry), ECR credential helper for root, running.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$(dirname "$0")/lib.bash"

if [ -n "$INSECURE_REGISTRY" ]; then
  log "local registry $INSECURE_REGISTRY is plain HTTP: adding it to insecure-registries"
  python3 - "$INSECURE_REGISTRY" <<'PY'
import json, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path))
config["insecure-registries"] = sorted(set(config.get("insecure-registries", [])) | {sys.argv[1]})
open(path, "w").write(json.dumps(config, indent=2) + "\n")
PY
fi

log "root's docker config: ECR through amazon-ecr-credential-helper (${ECR_REGISTRY:-no ECR registry})"
install -d -m 0700 /root/.docker
python3 - "$ECR_REGISTRY" <<'PY'
import json, os, sys
path = "/root/.docker/config.json"
config = json.load(open(path)) if os.path.exists(path) else {}
helpers = config.setdefault("credHelpers", {})
if sys.argv[1]:
    helpers[sys.argv[1]] = "ecr-login"
tmp = path + ".tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    out.write(json.dumps(config, indent=2) + "\n")
os.replace(tmp, path)
PY

systemctl enable docker.service containerd.service
systemctl restart docker.service
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && break
  sleep 1
done
docker info --format 'docker {{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupVersion}}' \
  || die "docker does not answer"
