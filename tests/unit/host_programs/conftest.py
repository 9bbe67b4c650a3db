"""The host programs' package, image/rootfs/usr/local/lib/inference/inference_host, imports as
``inference_host``: its directory goes on sys.path, as the entry points put it on the host."""

import sys

from inferctl.paths import IMAGE_DIR

HOST_LIB = IMAGE_DIR / "rootfs" / "usr" / "local" / "lib" / "inference"

sys.path.insert(0, str(HOST_LIB))
