"""The values the Packer template is rendered with (AWS modern/legacy, the local region).

Every target runs the same amazon-ebs builder and the same provisioners (packer/provisioners.pkr.hcl.j2): wait for cloud-init
and apt, upload image/, run the recipe, run the testinfra suite (bake phase) from this machine
over Packer's own SSH connection, then cleanup and the leftover-state check.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ..paths import BUILD_DIR, IMAGE_DIR, PACKER_DIR, REPO
from . import amis, packer, recipe
from .render import render

SUDO_EXEC = "chmod +x '{{ .Path }}'; sudo -n env {{ .Vars }} '{{ .Path }}'"

# What the build instance's temporary instance profile may do: be reachable by Session Manager,
# and pull the app image from ECR for the pre-pull.
INSTANCE_ACTIONS = [
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage", "ec2messages:GetMessages", "ec2messages:SendReply",
    "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
]


def packer_out(target: str) -> Path:
    return BUILD_DIR / "packer" / target


def spec_command(report: Path) -> str:
    """The shell-local command that runs the image's testinfra suite against the build host."""
    return (f"cd {shlex.quote(str(REPO))} && {shlex.quote(sys.executable)} -m inferctl.bake.spec_step "
            f"--phase bake --report {shlex.quote(str(report))}")


def provisioner_context(*, out: Path, recipe_env: dict[str, str], tags: dict[str, str]) -> dict:
    build, cleanup = recipe.provision_steps()
    return {
        "wait_script": str(PACKER_DIR / "scripts" / "wait-ready.sh"),
        "image_dir": str(IMAGE_DIR),
        "sudo_exec": SUDO_EXEC,
        "recipe_env": recipe_env,
        "recipe_commands": build,
        "cleanup_commands": cleanup,
        "spec_command": spec_command(out / "spec-bake.xml"),
        "manifest": str(out / "manifest.json"),
        "bake_tags": tags,
    }


@dataclass(frozen=True)
class LocalRegion:
    """The Packer source seam: the local region's EC2 endpoint, its base image and its login."""
    endpoint: str
    source_ami: str
    ssh_username: str


def render_aws(*, config, tags: dict[str, str], recipe_env: dict[str, str], ami_name: str,
               legacy: bool, region: LocalRegion | None = None) -> Path:
    """Render the amazon-ebs template; `tags` lacks the source AMI tags (Packer fills them in).
    With `region`, the same template against the local region (render it with `legacy` for
    Debian's Packer 1.6.6)."""
    out = packer_out("local" if region else "aws-legacy" if legacy else "aws")
    image = config.image
    if legacy:
        source_refs = {amis.TAG_SOURCE_AMI: '"{{ .SourceAMI }}"',
                       amis.TAG_SOURCE_AMI_NAME: '"{{ .SourceAMIName }}"'}
    else:
        source_refs = {amis.TAG_SOURCE_AMI: "data.amazon-ami.ubuntu.id",
                       amis.TAG_SOURCE_AMI_NAME: "data.amazon-ami.ubuntu.name"}
    context = {
        "legacy": legacy,
        "amazon_plugin": packer.AMAZON_PLUGIN,
        "region": config.aws.region,
        "instance_type": image.build_instance_type,
        "ubuntu_release": image.ubuntu_release,
        "architecture": image.architecture,
        "canonical_owner": amis.CANONICAL_OWNER,
        "source_filters": amis.ubuntu_filters(image.ubuntu_release, image.architecture),
        "ami_name": ami_name,
        "ami_description": f"{config.project.name}: Ubuntu {image.ubuntu_release} {image.architecture}, "
                           f"recipe {tags[amis.TAG_RECIPE_HASH]}, app {tags[amis.TAG_APP_DIGEST]}",
        "ami_regions": [] if region else list(image.ami_regions),
        "region_endpoint": region.endpoint if region else "",
        "source_ami": region.source_ami if region else "",
        "ssh_username": region.ssh_username if region else "",
        "kms_key_id": image.kms_key_id,
        "instance_actions": INSTANCE_ACTIONS,
        "run_tags": {"Name": f"{config.project.name}-bake", amis.TAG_PROJECT: config.project.name},
        "source_refs": source_refs,
        **provisioner_context(out=out, recipe_env=recipe_env, tags=tags),
    }
    return render("aws.pkr.hcl.j2", out, context)
