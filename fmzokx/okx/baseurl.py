# -*- test-case-name: tests.okx.test_baseurl -*-
"""
Which OKX base URLs the daemon accepts: one rule, used by ``--okx-url`` and the client.

OKX is reached over https; plain http is only for a simulator on this machine (okxsim),
where the keys never leave the host. A base URL is a scheme and an authority: the client
appends ``/api/v5/...`` itself.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["DEFAULT_OKX_URL", "is_loopback_host", "okx_base_url"]

DEFAULT_OKX_URL = "https://www.okx.com"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 without brackets) is this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def okx_base_url(text: str) -> str:
    """
    ``text`` as a base URL, ``scheme://host[:port]`` (a trailing ``/`` dropped).

    :raises ValueError: saying what is wrong, for the caller to prefix with the option's
        name: not an http(s) URL, a path or query, or plain http to another machine.
    """
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"must be an absolute URL such as {DEFAULT_OKX_URL}, got {url!r}")
    if parts.path or parts.query or parts.fragment:
        raise ValueError(
            f"must be a base URL without a path (e.g. {DEFAULT_OKX_URL}), got {url!r}"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            "must use https for a remote host (plain http is only for a simulator on this "
            f"machine), got {url!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"
