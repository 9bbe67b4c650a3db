"""The local region answers as AWS documents where moto differs (inferctl/region/fidelity.py)."""

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ec2.responses.amis import AmisResponse
from moto.elbv2.models import ELBv2Backend
from moto.logs.models import LogStream

from inferctl.region import fidelity


@pytest.fixture
def region(monkeypatch):
    """An in-process moto with the region's fixes (moto's own methods back after the test)."""
    monkeypatch.setattr(ELBv2Backend, "create_target_group", ELBv2Backend.create_target_group)
    monkeypatch.setattr(AmisResponse, "register_image", AmisResponse.register_image)
    monkeypatch.setattr(LogStream, "put_log_events", LogStream.put_log_events)
    fidelity.install()
    with mock_aws():
        yield


@pytest.fixture
def elbv2(region):
        vpc = boto3.client("ec2", region_name="eu-west-1").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        yield boto3.client("elbv2", region_name="eu-west-1"), vpc


def test_creating_the_same_target_group_twice_returns_it(elbv2):
    client, vpc = elbv2
    settings = dict(Name="svc-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    first = client.create_target_group(**settings)["TargetGroups"][0]["TargetGroupArn"]
    again = client.create_target_group(**settings)["TargetGroups"][0]["TargetGroupArn"]
    assert again == first and len(client.describe_target_groups()["TargetGroups"]) == 1


def test_the_same_name_with_other_settings_is_still_a_duplicate(elbv2):
    client, vpc = elbv2
    client.create_target_group(Name="svc-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    with pytest.raises(ClientError, match="DuplicateTargetGroupName"):
        client.create_target_group(Name="svc-tg", Protocol="HTTP", Port=8080, VpcId=vpc)


# A minute a while ago: the metric's time is the EMF Timestamp, not the event's.
MINUTE = (datetime.now(timezone.utc) - timedelta(minutes=30)).replace(second=0, microsecond=0)
HOST = dict(InstanceId="i-0123456789abcdef0", AutoScalingGroupName="inference")


def emf(metrics, dimensions=(("InstanceId",), ("AutoScalingGroupName",)), at=MINUTE, **members):
    """A log event in the embedded metric format, as terraform/modules/monitoring documents it."""
    directive = {"Namespace": "Inference", "Dimensions": [list(names) for names in dimensions],
                 "Metrics": [{"Name": name, **({"Unit": unit} if unit else {})} for name, unit in metrics]}
    meta = {"Timestamp": int(at.timestamp() * 1000), "CloudWatchMetrics": [directive]}
    return json.dumps({"_aws": meta, **members})


@pytest.fixture
def logs(region):
    """put(*messages) writes them to a log stream; the CloudWatch client reads what came of them."""
    client = boto3.client("logs", region_name="eu-west-1")
    client.create_log_group(logGroupName="/inference/hosts")
    client.create_log_stream(logGroupName="/inference/hosts", logStreamName="host")
    now = int(datetime.now(timezone.utc).timestamp() * 1000)

    def put(*messages):
        client.put_log_events(logGroupName="/inference/hosts", logStreamName="host",
                              logEvents=[{"timestamp": now, "message": m} for m in messages])
        return [e["message"] for e in client.get_log_events(
            logGroupName="/inference/hosts", logStreamName="host", startFromHead=True)["events"]]
    return put, boto3.client("cloudwatch", region_name="eu-west-1")


def statistics(cloudwatch, metric, **dimensions):
    return cloudwatch.get_metric_statistics(
        Namespace="Inference", MetricName=metric, Period=60,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=MINUTE - timedelta(hours=1), EndTime=MINUTE + timedelta(hours=1),
        Statistics=["Sum", "Maximum", "Minimum", "SampleCount"])["Datapoints"]


def metrics(cloudwatch):
    """{(metric, ((dimension, value), ...))} as ListMetrics has them."""
    return {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
            for m in cloudwatch.list_metrics(Namespace="Inference")["Metrics"]}


def test_an_emf_event_becomes_a_datapoint_per_dimension_set_and_metric(logs):
    put, cloudwatch = logs
    percents = [("disk_used_percent", "Percent"), ("mem_used_percent", "Percent")]
    put(emf(percents, **HOST, disk_used_percent=41.7, mem_used_percent=62.0),
        emf(percents, at=MINUTE + timedelta(seconds=20), **HOST, disk_used_percent=43.3, mem_used_percent=60.0))

    assert metrics(cloudwatch) == {(name, ((dimension, HOST[dimension]),)) for name, _ in percents
                                   for dimension in ("InstanceId", "AutoScalingGroupName")}
    for dimension in ("InstanceId", "AutoScalingGroupName"):
        [disk] = statistics(cloudwatch, "disk_used_percent", **{dimension: HOST[dimension]})
        [mem] = statistics(cloudwatch, "mem_used_percent", **{dimension: HOST[dimension]})
        assert (disk["Timestamp"], disk["Unit"], disk["SampleCount"]) == (MINUTE, "Percent", 2)
        assert (disk["Sum"], disk["Maximum"]) == pytest.approx((85.0, 43.3))
        assert (mem["Sum"], mem["Maximum"]) == pytest.approx((122.0, 62.0))


def test_a_list_of_values_is_a_datapoint_each(logs):
    put, cloudwatch = logs
    put(emf([("latency_ms", "Milliseconds"), ("requests", None)], dimensions=[["InstanceId"]],
            InstanceId=HOST["InstanceId"], latency_ms=[12, 30, 7.5], requests=3))
    [latency] = statistics(cloudwatch, "latency_ms", InstanceId=HOST["InstanceId"])
    assert (latency["SampleCount"], latency["Sum"], latency["Minimum"], latency["Maximum"]) == (3, 49.5, 7.5, 30)
    [requests] = statistics(cloudwatch, "requests", InstanceId=HOST["InstanceId"])
    assert (requests["SampleCount"], requests["Sum"], requests["Unit"]) == (1, 3, "None")


def test_events_that_are_not_valid_emf_are_stored_and_make_no_metric(logs):
    put, cloudwatch = logs
    disk = [("disk_used_percent", "Percent")]
    broken = ["GET / 200", '{"level": "info"}', '{"_aws": ', '["_aws"]',
              json.dumps({"_aws": {"Timestamp": "now", "CloudWatchMetrics": []}, "disk_used_percent": 1}),
              json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": "all"}, "disk_used_percent": 1}),
              emf(disk, **HOST),                                                   # the value is missing
              emf(disk, **HOST, disk_used_percent="41.7"),                         # a string
              emf(disk, **HOST, disk_used_percent=True),
              emf(disk, **HOST, disk_used_percent=[]),
              emf(disk, **HOST, disk_used_percent=[1, "2"]),
              emf(disk, **HOST, disk_used_percent=10 ** 400),
              emf(disk, **HOST, disk_used_percent=float("nan")),                  # NaN: JSON as Python writes it
              emf(disk, InstanceId=7, AutoScalingGroupName=["inference"], disk_used_percent=1),
              emf(disk, disk_used_percent=1),                                      # no dimension values
              emf([("disk_used_percent", "Percents")], **HOST, disk_used_percent=1),
              emf(disk, dimensions=[[f"d{i}" for i in range(31)]], disk_used_percent=1,
                  **{f"d{i}": "x" for i in range(31)})]
    assert put(*broken) == broken
    assert metrics(cloudwatch) == set()


def test_a_metric_without_its_value_is_skipped_and_its_siblings_kept(logs):
    put, cloudwatch = logs
    put(emf([("disk_used_percent", "Percent"), ("mem_used_percent", "Percent")], dimensions=[["InstanceId"]],
            InstanceId=HOST["InstanceId"], mem_used_percent=62.0))
    assert metrics(cloudwatch) == {("mem_used_percent", (("InstanceId", HOST["InstanceId"]),))}
