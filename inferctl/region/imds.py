"""The local region's instance metadata service (IMDSv2), one server for every local host.

Each host's namespace sends 169.254.169.254:80 to this server (a DNAT rule in the host's own
network namespace, so Docker containers inside the host, whose traffic is forwarded rather than
sent by the host, never reach it: what a hop limit of 1 gives on EC2). The asking instance is
known by its source address, its private IP. Served, as on EC2: the session token (PUT
/latest/api/token; GETs without a valid token get 401), instance id, type, AMI, addresses,
placement, the instance profile's role credentials, the identity document, the user-data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..shell import run
from .dataplane import decoded_user_data

METADATA_ADDRESS = "169.254.169.254"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
# moto accepts any signature; these are what the region's instance roles "issue".
ROLE_CREDENTIALS = {"AccessKeyId": "ASIALOCALREGION00001", "SecretAccessKey": "local-region-secret",
                    "Token": "local-region-session-token"}


def find_instance(address: str):
    """(account, region, instance) of the running moto instance at this private IP, or None."""
    from moto.ec2.models import ec2_backends
    for account, regions in list(ec2_backends.items()):
        for region, backend in list(regions.items()):
            for instance in backend.all_instances():
                if instance.private_ip == address and instance.state in ("pending", "running", "stopping"):
                    return account, region, backend, instance
    return None


def role_name(account: str, backend, instance) -> str:
    """The role of the instance's profile: associated at RunInstances, or (an Auto Scaling
    group's instance) named in the group's launch template version."""
    association = backend.iam_instance_profile_associations.get(instance.id)
    profile = association.iam_instance_profile if association else _template_profile(account, instance)
    roles = getattr(profile, "roles", []) if profile else []
    return roles[0].name if roles else ""


def _template_profile(account: str, instance):
    group = getattr(instance, "autoscaling_group", None)
    template = getattr(group, "ec2_launch_template", None)
    if template is None:
        return None
    wanted = template.get_version(group.launch_template_version).data.get("IamInstanceProfile") or {}
    from moto.iam.models import iam_backends
    iam = iam_backends[account]["global"]
    try:
        if wanted.get("Arn"):
            return iam.get_instance_profile_by_arn(wanted["Arn"])
        return iam.get_instance_profile(wanted["Name"]) if wanted.get("Name") else None
    except Exception:  # moto's NotFound: a template naming a profile that is gone has none
        return None


class Handler(BaseHTTPRequestHandler):
    server: MetadataServer

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _send(self, code: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):  # noqa: N802 - http.server's naming
        if self.path != "/latest/api/token":
            return self._send(404, "Not Found")
        try:
            ttl = int(self.headers.get(TTL_HEADER, ""))
        except ValueError:
            return self._send(400, "Bad Request: missing or invalid token TTL")
        if not 1 <= ttl <= 21600:
            return self._send(400, "Bad Request: token TTL must be 1..21600")
        token = secrets.token_urlsafe(32)
        self.server.tokens[token] = (self.client_address[0], time.monotonic() + ttl)
        return self._send(200, token)

    def do_GET(self):  # noqa: N802
        owner, expires = self.server.tokens.get(self.headers.get(TOKEN_HEADER, ""), ("", 0))
        if owner != self.client_address[0] or expires < time.monotonic():
            return self._send(401, "Unauthorized")
        try:
            # moto's records change under a concurrent launch: a failed look is a 500, asked again
            found = find_instance(self.client_address[0])
            if found is None:
                return self._send(404, "Not Found")
            account, region, backend, instance = found
            answer = self.answer(self.path.split("?")[0], account, region, backend, instance)
        except Exception:  # a bug here must not look like a network failure to the instance
            logging.exception("metadata: %s from %s", self.path, self.client_address[0])
            return self._send(500, "Internal Server Error")
        if answer is None:
            return self._send(404, "Not Found")
        return self._send(200, *answer) if isinstance(answer, tuple) else self._send(200, answer)

    @staticmethod
    def answer(path: str, account: str, region: str, backend, instance):
        role = role_name(account, backend, instance)
        meta = {
            "instance-id": instance.id, "instance-type": instance.instance_type, "ami-id": instance.image_id,
            "local-ipv4": instance.private_ip, "hostname": instance.private_dns_name,
            "placement/region": region, "placement/availability-zone": instance.availability_zone,
            "iam/security-credentials/": role,
        }
        if path.startswith("/latest/meta-data/"):
            key = path.removeprefix("/latest/meta-data/")
            if key in meta:
                return meta[key]
            if role and key == f"iam/security-credentials/{role}":
                expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=6)
                return json.dumps({"Code": "Success", "Type": "AWS-HMAC", **ROLE_CREDENTIALS,
                                   "LastUpdated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}), "application/json"
            return None
        if path == "/latest/dynamic/instance-identity/document":
            return json.dumps({"accountId": account, "region": region, "instanceId": instance.id,
                               "imageId": instance.image_id, "instanceType": instance.instance_type,
                               "availabilityZone": instance.availability_zone, "privateIp": instance.private_ip,
                               "architecture": "x86_64"}), "application/json"
        if path == "/latest/user-data":
            text = decoded_user_data(instance)
            return text if text else None
        return None


class MetadataServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str):
        super().__init__((address, 0), Handler)
        self.tokens: dict[str, tuple[str, float]] = {}

    @property
    def port(self) -> int:
        return self.server_address[1]

    def serve_in_background(self) -> None:
        threading.Thread(target=self.serve_forever, name="imds", daemon=True).start()


def route_to(netns_name: str, address: str, port: int) -> None:
    """In the host's namespace: send 169.254.169.254:80 to this server."""
    run(["ip", "netns", "exec", netns_name, "iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-d",
         f"{METADATA_ADDRESS}/32", "-p", "tcp", "--dport", "80", "-j", "DNAT",
         "--to-destination", f"{address}:{port}"], capture=True)

