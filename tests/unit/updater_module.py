"""Load the on-host updater script (no .py suffix, not a package) as a module for tests."""

import importlib.machinery
import importlib.util
import sys

from inferctl.paths import IMAGE_DIR

SCRIPT = IMAGE_DIR / "rootfs" / "usr" / "local" / "sbin" / "inference-update"


def load():
    if "inference_update" in sys.modules:
        return sys.modules["inference_update"]
    loader = importlib.machinery.SourceFileLoader("inference_update", str(SCRIPT))
    spec = importlib.util.spec_from_loader("inference_update", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["inference_update"] = module  # dataclasses resolve annotations through it
    loader.exec_module(module)
    return module
