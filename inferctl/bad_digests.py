"""The fleet's record of bad digests, from the orchestration's side: where it lives, and its removal.

The hosts write it (image/.../inference_host/bad_digests.py: one String parameter per digest a
host rolled back, under /<project>/bad-digests) and read it before trying a digest; Terraform
grants exactly that path. Nothing here writes a record: destroy deletes them with the stack.
"""

from __future__ import annotations


def path(project: str) -> str:
    """The SSM path deploy passes to Terraform (BAD_DIGESTS_PATH on the hosts)."""
    return f"/{project}/bad-digests"


def recorded(ssm, project: str) -> list[str]:
    """The names of every record of the project's hosts."""
    names = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path(project)):
        names += [p["Name"] for p in page["Parameters"]]
    return names


def delete_all(ssm, project: str) -> int:
    """Delete every record (DeleteParameters takes 10 names a call); how many there were."""
    names = recorded(ssm, project)
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start:start + 10])
    return len(names)
