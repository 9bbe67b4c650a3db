"""A canary instance on AWS: one host like the service's, from the new AMI, verified, then gone.

It copies the service's own launch settings, so it gets the same network, security group,
instance profile (SSM access) and settings: in single mode from the running instance (its
user-data with DOMAIN emptied, so the canary serves plain HTTP and asks no CA for a
certificate), in fleet mode from the Auto Scaling group's launch template. Its Project tag is
"<project>-canary", so it is never mistaken for a service host.
"""

from __future__ import annotations

import base64
import re
import time

from ..errors import UserError

ROLE_TAG = "Role"


def service_instance(ec2, project: str) -> dict:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:Project", "Values": [project]}, {"Name": "instance-state-name", "Values": ["running"]}])
    found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    if not found:
        raise UserError(f"no running instance of project {project!r} to model the canary on",
                        hint="deploy the service first: invoke deploy")
    return found[0]


def fleet_group(autoscaling, project: str) -> dict:
    """The fleet's Auto Scaling group (the fleet module names it after the project)."""
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[project])["AutoScalingGroups"]
    if not groups:
        raise UserError(f"no Auto Scaling group named {project!r}", hint="deploy the fleet first: invoke deploy")
    return groups[0]


def without_domain(user_data: str) -> str:
    """The service's user-data with DOMAIN emptied (the canary has no DNS name)."""
    return re.sub(r"(?m)^(\s*)DOMAIN=.*$", r"\1DOMAIN=", user_data)


def launch(ec2, autoscaling, project: str, mode: str, ami: str) -> str:
    """Start the canary from ``ami``; returns its instance id."""
    tags = [{"ResourceType": "instance", "Tags": [
        {"Key": "Name", "Value": f"{project}-canary"}, {"Key": "Project", "Value": f"{project}-canary"},
        {"Key": ROLE_TAG, "Value": "canary"}]}]
    if mode == "fleet":
        group = fleet_group(autoscaling, project)
        if "LaunchTemplate" not in group:
            raise UserError(f"the Auto Scaling group {project} has no launch template")
        template = group["LaunchTemplate"]
        subnet = group["VPCZoneIdentifier"].split(",")[0]
        started = ec2.run_instances(
            MinCount=1, MaxCount=1, ImageId=ami, SubnetId=subnet, TagSpecifications=tags,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"})
    else:
        model = service_instance(ec2, project)
        user_data = ec2.describe_instance_attribute(InstanceId=model["InstanceId"], Attribute="userData")
        encoded = user_data.get("UserData", {}).get("Value", "")
        extra = {}
        if encoded:
            extra["UserData"] = without_domain(base64.b64decode(encoded).decode())
        if model.get("IamInstanceProfile"):
            extra["IamInstanceProfile"] = {"Arn": model["IamInstanceProfile"]["Arn"]}
        started = ec2.run_instances(
            MinCount=1, MaxCount=1, ImageId=ami, InstanceType=model["InstanceType"],
            SubnetId=model["SubnetId"], SecurityGroupIds=[g["GroupId"] for g in model.get("SecurityGroups", [])],
            MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
            TagSpecifications=tags, **extra)
    return started["Instances"][0]["InstanceId"]


def wait_ready(ec2, ssm, instance_id: str, region: str, timeout: float = 900, sleep=time.sleep) -> None:
    """Until the instance passes its status checks and its channel answers: its SSM agent is
    online (a local region's host is reached through nsenter once it runs)."""
    from ..verify.targets import channel

    attempts = max(1, int(timeout // 5))
    ec2.get_waiter("instance_status_ok").wait(InstanceIds=[instance_id],
                                              WaiterConfig={"Delay": 5, "MaxAttempts": attempts})
    if not channel(instance_id, region).startswith("ssm://"):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])["InstanceInformationList"]
        if info and info[0].get("PingStatus") == "Online":
            return
        sleep(10)
    raise UserError(f"canary {instance_id} never registered with SSM within {timeout:.0f}s",
                    hint="the AMI's SSM agent or the instance profile is broken; see the console output")


def terminate(ec2, instance_id: str) -> None:
    ec2.terminate_instances(InstanceIds=[instance_id])
