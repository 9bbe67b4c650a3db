"""In-process moto for the bake bookkeeping tests (helpers in bake_moto.py)."""

import boto3
import pytest
from bake_moto import REGION
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch):
    """boto3 clients on in-process moto. No default AMIs and no AWS-managed IAM policies:
    loading them costs seconds per test, and these tests seed what they need."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "MOTO_IAM_LOAD_MANAGED_POLICIES": "false",
                       "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield session
