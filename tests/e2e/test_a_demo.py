"""The README's main command, end to end, as a new user runs it: `invoke demo` on the local region
(the AWS code path: bake bookkeeping, deploy, verify by instance id, promote)."""

from __future__ import annotations

import json
import re
import urllib.request

from e2e_cli import service_instances

from inferctl.bake import amis


def test_every_stage_reports_its_time(demo):
    for stage in ("prerequisites", "local AWS region", "checks", "app image", "bake an AMI", "terraform plan",
                  "the service serves", "verify the service", "promote"):
        assert re.search(rf"^\[demo\] {re.escape(stage)}.*: done in \d+\.\ds$", demo, re.M), f"no timing for {stage}"


def test_the_printed_url_serves_the_model(demo):
    url = re.search(r"The service: (http://\S+)", demo).group(1)
    with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
        assert resp.status == 200
    key = re.search(r"Authorization: Bearer (\S+)'", demo).group(1)
    request = urllib.request.Request(f"{url}/api/infer", data=json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = json.load(resp)
    assert resp.status == 200 and body["predictions"][0]["label"] == "setosa", body


def test_the_instance_terraform_made_is_the_host_that_serves(demo, region):
    """The instance came alive from the region (not from a demo-only boot): at the private IP the
    region gave it, from the AMI the bake registered, and the URL printed is that address."""
    [instance] = service_instances(region)
    assert f"The service: http://{instance['PrivateIpAddress']} (instance {instance['InstanceId']})" in demo
    assert instance["ImageId"] == amis.read_channel(region.client("ssm"), "inference", "latest")


def test_verify_passed_and_the_ami_was_promoted(demo):
    assert "VERIFIED" in demo
    assert re.search(r"promote: /\S+/ami/latest -> ami-[0-9a-f]+", demo)
