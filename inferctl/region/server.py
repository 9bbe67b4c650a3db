"""The local region's process: moto's server with the data plane hooked in.

    python -m inferctl.region.server -H 127.0.0.1 -p 5000

Clients on this machine use the loopback listener. The hosts get what EC2 gives an instance, on
the local network's gateway (10.99.0.1), once the first one launches: the same API on a listener
of their own (``AWS_ENDPOINT_URL`` in the host's systemd environment: the endpoint seam, as on
this machine) and the instance metadata service (imds.py). On SIGTERM every host the region
made is removed: its instances go with it, as moto forgets them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ..local import netns
from . import dataplane, fidelity, imds

GUEST_ENV_FILE = "etc/systemd/system.conf.d/60-local-region.conf"


class GuestSide:
    """What the hosts reach on the gateway: the API and the metadata service (started on first use)."""

    def __init__(self, app):
        self.app = app
        self.api_port = 0
        self.metadata: imds.MetadataServer | None = None
        self._servers = []
        self._lock = threading.Lock()

    def _start(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        netns.hold("region")
        api = make_server(netns.HOST_IP, 0, self.app, threaded=True, request_handler=MotoRequestHandler)
        threading.Thread(target=api.serve_forever, name="guest-api", daemon=True).start()
        self.api_port = api.server_port
        self.metadata = imds.MetadataServer(netns.HOST_IP)
        self.metadata.serve_in_background()
        self._servers = [api, self.metadata]
        logging.info("guest side: API on %s:%d, metadata on %s:%d", netns.HOST_IP, self.api_port,
                     netns.HOST_IP, self.metadata.port)

    def setup(self, host, instance) -> None:
        """Before a host's first boot: its metadata route and its AWS endpoint."""
        with self._lock:
            if self.metadata is None:
                self._start()
        imds.route_to(host.name, netns.HOST_IP, self.metadata.port)
        env = Path(host.root) / GUEST_ENV_FILE
        env.parent.mkdir(parents=True, exist_ok=True)
        env.write_text("# Written by the local AWS region: the AWS endpoint of this instance's region.\n"
                       f"[Manager]\nDefaultEnvironment=AWS_ENDPOINT_URL=http://{netns.HOST_IP}:{self.api_port}\n")

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
        if self._servers:
            netns.unhold("region")
            netns.teardown_if_idle()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("MOTO_PORT", str(args.port))

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    guests = GuestSide(app)
    plane = dataplane.DataPlane(guest_setup=guests.setup)
    fidelity.install()
    dataplane.install(plane)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.info("local region on http://%s:%d", args.host, args.port)
    try:
        server.serve_forever()
    finally:
        plane.remove_all()
        guests.stop()
        logging.info("local region stopped")


if __name__ == "__main__":
    main()
