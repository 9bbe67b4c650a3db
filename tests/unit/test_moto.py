"""The local AWS endpoint: start, reuse, clients, stop (a real moto server on loopback)."""

import socket

import pytest

from inferctl.errors import UserError
from inferctl.local.moto import Moto


@pytest.fixture
def server(tmp_path):
    moto = Moto(tmp_path / "moto")
    yield moto
    moto.stop()


def test_start_reuse_client_stop(server):
    url = server.start()
    assert url.startswith("http://127.0.0.1:") and server.fresh
    assert server.start() == url and not server.fresh  # reused, not restarted
    assert server.client("sts").get_caller_identity()["Account"] == "123456789012"
    # managed policies are loaded (the terraform tier reads them to prove the host role has none)
    iam = server.client("iam")
    iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    assert server.stop() and not server.running()
    assert not (server.state_dir / "moto.pid").exists()
    with pytest.raises(UserError, match="not running"):
        server.endpoint_url()


def test_busy_port_is_a_clear_error(server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(UserError, match="already in use"):
            server.start(sock.getsockname()[1])
