# -*- test-case-name: tests.status.test_status_port -*-
"""
The status listener's resource: ``/status``, ``/healthz`` and ``/metrics`` of the RPC
resource, and nothing else.

Browsers refuse to open port 6666 (an IRC port on their blocked lists), where the FMZ
docker calls; ``--status-listen`` gives people a port they can open. It must not become
a second way in for the docker's calls, so every other path is a 404 here; the paths it
does answer keep the RPC resource's access policy.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.resource import IResource
from zope.interface import implementer

__all__ = ["BROWSER_REFUSED_PORTS", "STATUS_PATHS", "status_only"]

STATUS_PATHS = frozenset({b"/status", b"/healthz", b"/metrics"})

BROWSER_REFUSED_PORTS = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95,
    101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
    179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563,
    587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
    5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
})
"""
Ports a browser will not open an ``http://`` address on: the Fetch standard's bad ports
(https://fetch.spec.whatwg.org/#port-blocking), which Chromium and Firefox follow
(``ERR_UNSAFE_PORT``). 6666, the docker's port, is one.
"""


@implementer(IResource)
class _StatusOnly:
    isLeaf = True

    def __init__(self, inner: IResource) -> None:
        self._inner = inner

    def getChildWithDefault(self, name: bytes, request: Any) -> IResource:  # noqa: N802
        return self

    def putChild(self, path: bytes, child: IResource) -> None:  # noqa: N802
        raise TypeError("the status listener has no children of its own")

    def render(self, request: Any) -> Any:
        if request.path in STATUS_PATHS:
            return self._inner.render(request)
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        known = ", ".join(sorted(path.decode("ascii") for path in STATUS_PATHS))
        return json.dumps({"error": f"this port serves only {known}"}).encode("utf-8")


def status_only(inner: IResource) -> IResource:
    """``inner`` restricted to :data:`STATUS_PATHS` (HTTP 404 with a JSON error for the rest)."""
    return _StatusOnly(inner)
