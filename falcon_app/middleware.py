"""Per-request plumbing shared by the WSGI and ASGI apps: request id, access log,
metrics, API keys and the bounded request body.

Each hook is plain synchronous code; the *_async variants that falcon.asgi calls
only delegate, since none of them waits on I/O (the body is read by the resources'
async wrappers, see app.py).
"""

from __future__ import annotations

import os
import re
import time

import falcon

from .auth import ApiKeys
from .logs import AccessLog
from .metrics import Metrics

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED = "(unmatched)"


class RequestContext:
    """Request id (honours a well-formed X-Request-ID), timing, access log and metrics."""

    def __init__(self, metrics: Metrics, access_log: AccessLog):
        self.metrics = metrics
        self.access_log = access_log

    def process_request(self, req, resp):
        incoming = req.get_header("X-Request-ID")
        req.context.request_id = incoming if incoming and REQUEST_ID.match(incoming) else os.urandom(16).hex()
        req.context.started = time.perf_counter()
        resp.set_header("X-Request-ID", req.context.request_id)

    def process_response(self, req, resp, resource, req_succeeded):
        if not hasattr(req.context, "started"):   # refused before process_request (falcon.asgi: method WEBSOCKET)
            self.process_request(req, resp)
        elapsed = time.perf_counter() - req.context.started
        route = req.uri_template or UNMATCHED
        status = str(resp.status_code)
        self.metrics.observe(route, req.method, status, elapsed)
        self.access_log.write({
            "request_id": req.context.request_id, "method": req.method, "path": req.path,
            "route": route, "status": resp.status_code, "duration_ms": round(elapsed * 1000, 3),
            "remote": req.remote_addr, "user_agent": req.user_agent})

    async def process_request_async(self, req, resp):
        self.process_request(req, resp)

    async def process_response_async(self, req, resp, resource, req_succeeded):
        self.process_response(req, resp, resource, req_succeeded)


class RequireApiKey:
    """401 unless a valid key is presented; resources with `auth_required = False` stay open.

    Runs after routing, so an unknown route is a 404 with or without a key.
    """

    def __init__(self, keys: ApiKeys | None):
        self.keys = keys    # None: anonymous access allowed (ALLOW_ANONYMOUS)

    def process_resource(self, req, resp, resource, params):
        if self.keys is None or resource is None or not getattr(resource, "auth_required", True):
            return
        key = ApiKeys.presented(req.get_header("Authorization"), req.get_header("X-API-Key"))
        if not self.keys.valid(key):
            raise falcon.HTTPUnauthorized(
                description="missing API key" if key is None else "invalid API key",
                challenges=['Bearer realm="inference"'])

    async def process_resource_async(self, req, resp, resource, params):
        self.process_resource(req, resp, resource, params)
