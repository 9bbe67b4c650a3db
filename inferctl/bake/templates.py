"""The values each Packer template is rendered with (AWS modern/legacy, local).

Both targets run the same provisioners (packer/provisioners.pkr.hcl.j2): wait for cloud-init
and apt, upload image/, run the recipe, run the testinfra suite (bake phase) from this machine
over Packer's own SSH connection, then cleanup and the leftover-state check.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..paths import BUILD_DIR, IMAGE_DIR, PACKER_DIR, REPO
from . import amis, recipe
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


def provisioner_context(*, out: Path, recipe_env: dict[str, str], tags: dict[str, str],
                        spec_key_file: str = "") -> dict:
    build, cleanup = recipe.provision_steps()
    return {
        "wait_script": str(PACKER_DIR / "scripts" / "wait-ready.sh"),
        "image_dir": str(IMAGE_DIR),
        "sudo_exec": SUDO_EXEC,
        "recipe_env": recipe_env,
        "recipe_commands": build,
        "cleanup_commands": cleanup,
        "spec_command": spec_command(out / "spec-bake.xml"),
        "spec_key_file": spec_key_file,
        "manifest": str(out / "manifest.json"),
        "bake_tags": tags,
    }


def render_aws(*, config, tags: dict[str, str], recipe_env: dict[str, str], ami_name: str,
               legacy: bool) -> Path:
    """Render the amazon-ebs template; `tags` lacks the source AMI tags (Packer fills them in)."""
    out = packer_out("aws-legacy" if legacy else "aws")
    image = config.image
    if legacy:
        source_refs = {amis.TAG_SOURCE_AMI: '"{{ .SourceAMI }}"',
                       amis.TAG_SOURCE_AMI_NAME: '"{{ .SourceAMIName }}"'}
    else:
        source_refs = {amis.TAG_SOURCE_AMI: "data.amazon-ami.ubuntu.id",
                       amis.TAG_SOURCE_AMI_NAME: "data.amazon-ami.ubuntu.name"}
    context = {
        "legacy": legacy,
        "region": config.aws.region,
        "instance_type": image.build_instance_type,
        "ubuntu_release": image.ubuntu_release,
        "architecture": image.architecture,
        "canonical_owner": amis.CANONICAL_OWNER,
        "source_filters": amis.ubuntu_filters(image.ubuntu_release, image.architecture),
        "ami_name": ami_name,
        "ami_description": f"{config.project.name}: Ubuntu {image.ubuntu_release} {image.architecture}, "
                           f"recipe {tags[amis.TAG_RECIPE_HASH]}, app {tags[amis.TAG_APP_DIGEST]}",
        "ami_regions": list(image.ami_regions),
        "kms_key_id": image.kms_key_id,
        "instance_actions": INSTANCE_ACTIONS,
        "run_tags": {"Name": f"{config.project.name}-bake", amis.TAG_PROJECT: config.project.name},
        "source_refs": source_refs,
        **provisioner_context(out=out, recipe_env=recipe_env, tags=tags),
    }
    return render("aws.pkr.hcl.j2", out, context)


def render_local(*, host: str, port: int, user: str, key_file: Path, tags: dict[str, str],
                 recipe_env: dict[str, str]) -> Path:
    out = packer_out("local")
    context = {
        "ssh_host": host,
        "ssh_port": port,
        "ssh_user": user,
        "ssh_key_file": str(key_file),
        **provisioner_context(out=out, recipe_env=recipe_env, tags=tags, spec_key_file=str(key_file)),
    }
    return render("local.pkr.hcl.j2", out, context)
