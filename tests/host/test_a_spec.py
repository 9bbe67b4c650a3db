"""The recipe makes a host that passes its own spec: during the bake (over SSH) and live."""


from inferctl.hostspec.runner import run_spec


def test_spec_passes_during_bake_over_ssh(provisioned):
    _, bake = provisioned
    assert bake.passed, bake.summary()
    assert bake.total >= 30


def test_spec_passes_on_live_host(live_host, tmp_path):
    result = run_spec(live_host.nspawn_url, "live", tmp_path / "live.xml", quiet=True)
    assert result.passed, result.summary()
    assert result.total >= 30
