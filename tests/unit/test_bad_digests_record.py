"""The fleet's record of bad digests from the orchestration's side: its path, and destroy's removal."""

import pytest

from inferctl import bad_digests
from inferctl.local.moto import Moto


@pytest.fixture(scope="module")
def ssm(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server.client("ssm", "eu-west-1")
    server.stop()


def test_delete_all_removes_every_record_of_the_project_only(ssm):
    for n in range(13):                                  # more than one DeleteParameters call
        ssm.put_parameter(Name=f"{bad_digests.path('svc')}/{n:064x}", Value="{}", Type="String")
    ssm.put_parameter(Name="/svc/api-keys", Value="k" * 20, Type="SecureString")
    ssm.put_parameter(Name=f"{bad_digests.path('other')}/{0:064x}", Value="{}", Type="String")
    assert len(bad_digests.recorded(ssm, "svc")) == 13
    assert bad_digests.delete_all(ssm, "svc") == 13
    assert bad_digests.recorded(ssm, "svc") == [] and bad_digests.delete_all(ssm, "svc") == 0
    assert ssm.get_parameter(Name="/svc/api-keys")["Parameter"]
    assert len(bad_digests.recorded(ssm, "other")) == 1
