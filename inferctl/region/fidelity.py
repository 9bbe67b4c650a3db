"""Where moto answers differently from AWS in a way our tools meet: made as AWS documents it.

Installed by the region's server before it serves (``install``), for every region and account.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import datetime, timezone


def install() -> None:
    _ebs_backed_registrations()
    _idempotent_target_groups()
    _embedded_metric_format()


def _ebs_backed_registrations() -> None:
    """RegisterImage with a root device on EBS makes an EBS-backed AMI, as on AWS (moto records
    every registered image as instance-store, which Packer's amazon-ebs refuses as a source)."""
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.register_image

    @functools.wraps(original)
    def register_image(self):
        result = original(self)
        root = self._get_param("RootDeviceName")
        mappings = self._get_param("BlockDeviceMappings", [])
        if root and any(m.get("DeviceName") == root and m.get("Ebs") is not None for m in mappings):
            ami = self.ec2_backend.amis[result.result["ImageId"]]
            ami.root_device_type, ami.root_device_name = "ebs", root
        return result
    AmisResponse.register_image = register_image


def _idempotent_target_groups() -> None:
    """CreateTargetGroup with the name of an existing group of the same settings returns that
    group, as on AWS ("each call succeeds"); moto refuses it as a duplicate. The AWS SDKs retry a
    create whose answer was slow, and Terraform then failed on its own first attempt."""
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.create_target_group

    @functools.wraps(original)
    def create_target_group(self, name, **kwargs):
        for group in self.target_groups.values():
            if group.name == name and all(str(getattr(group, key, None)) == str(kwargs.get(key))
                                          for key in ("protocol", "port", "vpc_id", "target_type")
                                          if kwargs.get(key) is not None):
                return group
        return original(self, name, **kwargs)
    ELBv2Backend.create_target_group = create_target_group


def _embedded_metric_format() -> None:
    """A log event in CloudWatch's embedded metric format (EMF: a JSON object whose ``_aws`` member
    holds a Timestamp and CloudWatchMetrics directives) becomes metric datapoints, as on AWS, where
    hosts publish their metrics that way (terraform/modules/monitoring); moto stores the event and
    extracts nothing. Patched where the stream stores events, so only accepted events count."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.logs.models import LogStream

    original = LogStream.put_log_events

    @functools.wraps(original)
    def put_log_events(self, log_events):
        token = original(self, log_events)
        for event in log_events:
            for namespace, datum in _emf_metric_data(event["message"]):
                cloudwatch_backends[self.account_id][self.region].put_metric_data(namespace, [datum])
        return token
    LogStream.put_log_events = put_log_events


_UNITS = frozenset(
    "Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits Kilobits "
    "Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second "
    "Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second "
    "Terabits/Second Count/Second None".split())


def _emf_metric_data(message: str) -> list[tuple[str, dict]]:
    """(Namespace, PutMetricData member as moto's query parser builds it) for each dimension set and
    metric of an EMF message. What CloudWatch skips (not JSON, a missing or mistyped member, more
    than 30 dimensions, ...) yields nothing for that metric, and never fails PutLogEvents."""
    try:
        root = json.loads(message)
        meta = root["_aws"]
        # moto's query parser gives PutMetricData a naive UTC timestamp
        when = datetime.fromtimestamp(_number(meta["Timestamp"]) / 1000, timezone.utc).replace(tzinfo=None)
        wanted = [(d["Namespace"], names, metric) for d in meta["CloudWatchMetrics"]
                  for names in d["Dimensions"] for metric in d["Metrics"]]
    except Exception:  # whatever malformed EMF raises here
        return []
    data = []
    for namespace, names, metric in wanted:
        try:
            value, unit = root[metric["Name"]], metric.get("Unit", "None")
            values = [_number(v) for v in value] if isinstance(value, list) else [_number(value)]
            if isinstance(names, list) and len(names) <= 30 and unit in _UNITS and 0 < len(values) <= 100:
                data.append((_text(namespace), {
                    "MetricName": _text(metric["Name"]), "Unit": unit, "Values": values, "Timestamp": when,
                    "Dimensions": [{"Name": _text(name), "Value": _text(root[name])} for name in names]}))
        except Exception:  # as above, for this metric only
            continue
    return data


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(value)
    return float(value)


def _text(value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    return value
