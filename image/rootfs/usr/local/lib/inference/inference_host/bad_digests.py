"""The fleet's record of bad digests: a digest one host rolled back, the others refuse untried.

One SSM String parameter per digest, ``<BAD_DIGESTS_PATH>/<hex digest>`` (BAD_DIGESTS_PATH is
/<project>/bad-digests, from user-data), created once and never overwritten: the first host's
reason stays, and no host can clear another's record (the host role may create and read names
under that path, nothing else; `invoke destroy` deletes them). A read is one GetParameter of one
name: no listing. The record adds to each host's own gates and never replaces them, so an
unreachable SSM is logged and the run goes on as the host alone would decide.
"""

from __future__ import annotations

import json
import os
import socket

from . import aws, imds
from .registry import DIGEST_RE


class BadDigests:
    def __init__(self, path: str, env=None):
        self.path = path.rstrip("/")
        self.env = os.environ if env is None else env

    def name(self, digest: str) -> str:
        if not DIGEST_RE.fullmatch(digest):
            raise ValueError(f"not a digest: {digest!r}")
        return f"{self.path}/{digest.split(':', 1)[1]}"

    def _where(self) -> tuple[str, str, dict]:
        region, creds = imds.instance_identity(imds.endpoint(self.env))
        return aws.endpoint_url("ssm", region, self.env), region, creds

    def lookup(self, digest: str) -> dict | None:
        """Why another host recorded ``digest`` as bad, or None when none did. AwsError when SSM
        cannot say."""
        endpoint, region, creds = self._where()
        name = self.name(digest)
        try:
            answer = aws.ssm(endpoint, region, creds, "GetParameter", {"Name": name}, name)
        except aws.AwsError as exc:
            if exc.kind == "ParameterNotFound":
                return None
            raise
        try:
            return json.loads(answer["Parameter"]["Value"])
        except (KeyError, TypeError, ValueError):
            return {"reason": "recorded (unreadable details)"}

    def publish(self, digest: str, event: str, reason: str) -> bool:
        """Record ``digest`` as bad for the fleet; False when a host recorded it first. AwsError
        when SSM cannot be reached."""
        endpoint, region, creds = self._where()
        record = json.dumps({"digest": digest, "event": event, "reason": reason[:900], "host": socket.gethostname()})
        name = self.name(digest)
        try:
            aws.ssm(endpoint, region, creds, "PutParameter",
                      {"Name": name, "Value": record, "Type": "String", "Overwrite": False,
                       "Description": f"a host rolled back {digest[:19]}...: the fleet refuses it"}, name)
        except aws.AwsError as exc:
            if exc.kind == "ParameterAlreadyExists":
                return False
            raise
        return True
