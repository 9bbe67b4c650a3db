#!/usr/bin/env bash
# Wait until the fresh instance is quiet enough to provision: cloud-init has finished and no
# apt/dpkg run (apt-daily, unattended-upgrades, cloud-init's own package step) holds the locks.
set -euo pipefail

TIMEOUT="${WAIT_READY_TIMEOUT:-900}"
deadline=$((SECONDS + TIMEOUT))

if command -v cloud-init >/dev/null 2>&1; then
  echo "wait-ready: waiting for cloud-init"
  # Exit 2 = finished with recoverable errors (degraded): still finished.
  rc=0
  timeout "$TIMEOUT" cloud-init status --wait >/dev/null || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "wait-ready: cloud-init status --wait failed (exit $rc)" >&2
    cloud-init status --long >&2 || true
    exit 1
  fi
fi

# dpkg and apt take POSIX (fcntl) locks, so probe with fcntl, not flock(1).
locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
until python3 - "${locks[@]}" <<'PY'
import fcntl, os, sys
for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue
    with open(path, "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            sys.exit(1)
PY
do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "wait-ready: apt/dpkg locks still held after ${TIMEOUT}s" >&2
    exit 1
  fi
  echo "wait-ready: apt/dpkg busy, waiting"
  sleep 5
done
echo "wait-ready: ready"
