"""The AWS side the host programs meet in unit tests: an instance's identity and a fake IMDSv2
(the conftest serves it on loopback; moto stands in for the AWS APIs)."""

import json
from http.server import BaseHTTPRequestHandler

REGION = "eu-west-1"
CREDS = {"AccessKeyId": "ASIATESTING", "SecretAccessKey": "testing", "Token": "session-token"}
INSTANCE_ID = "i-0123456789abcdef0"


class Imds(BaseHTTPRequestHandler):
    """IMDSv2: a PUT token first, then GETs that must carry it."""

    def do_PUT(self):
        self._send(b"imds-token" if self.path == "/latest/api/token" else None)

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != "imds-token":
            self.send_response(401)
            self.end_headers()
            return
        self._send({"/latest/meta-data/placement/region": REGION.encode(),
                    "/latest/meta-data/iam/security-credentials/": b"inference-host\n",
                    "/latest/meta-data/iam/security-credentials/inference-host": json.dumps(CREDS).encode(),
                    "/latest/meta-data/instance-id": INSTANCE_ID.encode(),
                    }.get(self.path))

    def _send(self, body):
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass
