"""The host programs' package, image/rootfs/usr/local/lib/inference/inference_host, imports as
``inference_host``: its directory goes on sys.path, as the entry points put it on the host."""

import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from inferctl.local.moto import Moto
from inferctl.paths import IMAGE_DIR

HOST_LIB = IMAGE_DIR / "rootfs" / "usr" / "local" / "lib" / "inference"

sys.path.insert(0, str(HOST_LIB))

from fake_aws import Imds  # noqa: E402  (needs nothing of the above, kept beside its fixture)

@pytest.fixture(scope="module")
def imds():
    """A fake IMDSv2 on loopback (fake_aws.Imds): its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """A moto server on loopback for the module's tests."""
    server = Moto(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()
