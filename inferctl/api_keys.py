"""The service's API keys on AWS: one SSM SecureString parameter per project, one key per line.

Every host of a deployment reads it at boot (image/rootfs/usr/local/lib/inference/api-keys),
so a fleet behind an ALB shares its keys and a roll keeps them. It is encrypted with the
AWS-managed `aws/ssm` key, so the hosts' role needs ssm:GetParameter on it and nothing from KMS.
Rotation: update the parameter, then restart inference-api-keys.service and the active slot.
"""

from __future__ import annotations

import secrets


def parameter_name(project: str) -> str:
    """The one name deploy creates, Terraform grants and passes to the hosts, verify reads."""
    return f"/{project}/api-keys"


def first_key(text: str) -> str | None:
    """The first key of a keys file or parameter value (blank and # lines skipped)."""
    return next((line.strip() for line in text.splitlines()
                 if line.strip() and not line.lstrip().startswith("#")), None)


def ensure_parameter(ssm, name: str) -> bool:
    """Create ``name`` with one random key unless it exists; True when it was created.

    An existing parameter is never overwritten (Overwrite=False also guards a race)."""
    try:
        ssm.get_parameter(Name=name)
        return False
    except ssm.exceptions.ParameterNotFound:
        pass
    try:
        ssm.put_parameter(Name=name, Type="SecureString", Value=secrets.token_urlsafe(32),
                          Description="API keys of the inference service, one per line",
                          Overwrite=False)
    except ssm.exceptions.ParameterAlreadyExists:
        return False
    return True
