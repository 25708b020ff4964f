# -*- test-case-name: tests.ops.test_access -*-
"""
Who may talk to the daemon: an IP allowlist and an optional secret path token.

Every docker call carries the OKX key, secret and passphrase, so a listener reachable from
other machines must not answer strangers. The FMZ docker cannot add headers to its
calls, but the service address it POSTs to is free text, so a secret can ride in the
path: ``http://host:6666/OKX-<token>``. This module is the pure policy (no I/O besides
reading the token file, no Twisted): the resource asks :meth:`AccessPolicy.check` before
parsing a body and answers 403 when refused, so a refused request never reaches OKX.

The rules, in order:

1. The peer's IP must be in the allowlist. Without ``--allow-ip`` the allowlist is
   loopback only -- unless a token is configured, in which case the token alone guards
   the RPC path and any address may try. A UNIX-socket peer is local and passes the IP
   rule (file permissions guard the socket).
2. With a token, the path segment must be exactly ``<token>`` or end in ``-<token>``,
   compared with :func:`hmac.compare_digest`; the part before ``-<token>`` is the label
   used in logs and metrics. Nothing this module returns contains the token or any
   four-character piece of it (a mistyped token is almost the token).

``/metrics``, ``/status`` and ``/healthz`` carry no token, so
:meth:`AccessPolicy.check_peer` applies the IP rule alone; when only a token is
configured they stay loopback-only (add ``--allow-ip`` for a Prometheus server on another
machine).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from attrs import field, frozen
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

__all__ = [
    "ANY",
    "LOCAL_PEER",
    "LOOPBACK",
    "MIN_TOKEN_LENGTH",
    "AccessDecision",
    "AccessPolicy",
    "load_token",
    "parse_allow",
    "peer_of",
    "validate_token",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
"""The default allowlist: this machine only."""

ANY: tuple[Network, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
"""Every address (used when a token is the only guard)."""

LOCAL_PEER = "unix"
"""The ``peer_host`` to pass for a UNIX-socket connection."""

MIN_TOKEN_LENGTH = 16
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9_.~-]{0,64}$")

ALLOWED = "allowed"
PEER_NOT_ALLOWED = "peer-not-allowed"
TOKEN_MISSING = "token-missing"
TOKEN_MISMATCH = "token-mismatch"

_MESSAGES = {
    PEER_NOT_ALLOWED: (
        "access denied: this client's address is not allowed to use fmzokx "
        "(see the daemon's --allow-ip option)"
    ),
    TOKEN_MISSING: (
        "access denied: this fmzokx needs its access token in the service address, "
        "e.g. http://host:6666/OKX-<token> (see the daemon's --token-file option)"
    ),
    TOKEN_MISMATCH: (
        "access denied: the token in the service address does not match the daemon's "
        "(see the daemon's --token-file option)"
    ),
}


@frozen
class AccessDecision:
    """
    The verdict on one request.

    :ivar allowed: whether to serve it.
    :ivar reason: ``"allowed"``, ``"peer-not-allowed"``, ``"token-missing"`` or
        ``"token-mismatch"`` -- a fixed vocabulary, fit for a metric label.
    :ivar label: the path segment with any token removed, for logs and metrics.
    """

    allowed: bool
    reason: str
    label: str

    @property
    def message(self) -> str:
        """The text of the 403 ``{"error": ...}`` reply (empty when allowed)."""
        return _MESSAGES.get(self.reason, "")


@frozen
class AccessPolicy:
    """
    The access rules of one daemon.

    Construct it with :meth:`from_options` to get the documented defaults; the fields
    are explicit so a test can build any combination.

    :ivar allow: networks a peer must belong to for the RPC path.
    :ivar token: the secret path token, or ``None``.
    :ivar operations: networks allowed to read ``/metrics``, ``/status`` and ``/healthz``.
    """

    allow: tuple[Network, ...] = LOOPBACK
    token: str | None = field(default=None, repr=False)
    operations: tuple[Network, ...] = LOOPBACK

    @classmethod
    def from_options(
        cls, allow: Iterable[Network] = (), token: str | None = None
    ) -> AccessPolicy:
        """
        The policy for ``--allow-ip`` networks and a ``--token-file`` token.

        No allowlist means loopback only, or any address when a token guards the RPC
        path; the operations endpoints then stay loopback only.
        """
        networks = tuple(allow)
        if token is not None:
            validate_token(token)
        if networks:
            return cls(allow=networks, token=token, operations=networks)
        if token is not None:
            return cls(allow=ANY, token=token, operations=LOOPBACK)
        return cls(allow=LOOPBACK, token=None, operations=LOOPBACK)

    @property
    def open_to_network(self) -> bool:
        """Whether any non-loopback address may reach the RPC path (tap warns about it)."""
        return any(not _is_loopback_network(network) for network in self.allow)

    def check_peer(self, peer_host: str) -> AccessDecision:
        """The IP rule alone, for ``/metrics``, ``/status`` and ``/healthz``."""
        if _peer_in(peer_host, self.operations):
            return AccessDecision(True, ALLOWED, "")
        return AccessDecision(False, PEER_NOT_ALLOWED, "")

    def check(self, peer_host: str, label: str) -> AccessDecision:
        """
        Whether the RPC call from ``peer_host`` to ``/<label>`` may proceed.

        :param peer_host: the peer's IP address as text (``request.getClientAddress().host``),
            or :data:`LOCAL_PEER` for a UNIX socket.
        :param label: the single path segment the docker posted to.
        """
        if self.token is None:
            clean = _safe_label(label)
            if not _peer_in(peer_host, self.allow):
                return AccessDecision(False, PEER_NOT_ALLOWED, clean)
            return AccessDecision(True, ALLOWED, clean)
        matched, clean = _match_token(label, self.token)
        if not _peer_in(peer_host, self.allow):
            return AccessDecision(False, PEER_NOT_ALLOWED, clean)
        if matched:
            return AccessDecision(True, ALLOWED, clean)
        reason = TOKEN_MISSING if "-" not in label and len(label) < len(self.token) else (
            TOKEN_MISMATCH
        )
        return AccessDecision(False, reason, clean)


def peer_of(address: object) -> str:
    """
    The ``peer_host`` for :meth:`AccessPolicy.check` from ``request.getClientAddress()``:
    the IP address as text, :data:`LOCAL_PEER` for a UNIX socket, ``""`` (refused by the
    IP rule) for anything else.
    """
    if isinstance(address, (IPv4Address, IPv6Address)):
        return str(address.host)
    if isinstance(address, UNIXAddress):
        return LOCAL_PEER
    return ""


def _is_loopback_network(network: Network) -> bool:
    return network.network_address.is_loopback and network.broadcast_address.is_loopback


@lru_cache(maxsize=1024)
def _peer_in(peer_host: str, networks: tuple[Network, ...]) -> bool:
    # Cached: a daemon sees the same few peers on every call, and parsing the address
    # and walking the networks is per-request work otherwise. Bounded, and keyed by
    # values that hold no secret.
    if peer_host == LOCAL_PEER:
        return True
    try:
        address = ipaddress.ip_address(peer_host.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        mapped = address.ipv4_mapped
        return any(network.version == 4 and mapped in network for network in networks)
    return any(network.version == address.version and address in network for network in networks)


def _match_token(segment: str, token: str) -> tuple[bool, str]:
    """
    Whether ``segment`` is ``token`` or ``<label>-<token>``, and the label to show.

    The comparison itself is :func:`hmac.compare_digest` over equal-length byte strings,
    so its timing does not depend on how much of the token a guess got right.
    """
    wanted = token.encode("utf-8")
    tail = segment[-len(token):] if len(segment) >= len(token) else segment
    same = hmac.compare_digest(tail.encode("utf-8"), wanted)
    prefix = segment[: len(segment) - len(token)] if len(segment) >= len(token) else ""
    shaped = prefix == "" or prefix.endswith("-")
    if same and shaped:
        return True, _safe_label(prefix[:-1], token)
    # Refused: a mistyped token is nearly the token, so show only the first '-'-separated
    # part, and nothing at all if that shares text with the token.
    return False, _safe_label(segment.split("-", 1)[0], token)


def _shares_text(label: str, token: str, width: int = 4) -> bool:
    """Whether ``label`` contains any ``width``-character piece of ``token``."""
    return any(token[start : start + width] in label for start in range(len(token) - width + 1))


def _safe_label(label: str, token: str | None = None) -> str:
    """A label fit for logs and metrics: short, plain, and sharing no text with the token."""
    if not _LABEL.match(label):
        return "invalid"
    if token is not None and _shares_text(label, token):
        return ""
    return label


def parse_allow(text: str) -> tuple[Network, ...]:
    """
    Parse one ``--allow-ip`` value: a CIDR (``10.0.0.0/8``), an address
    (``192.168.1.20``), ``localhost``, or several of them separated by commas.

    :raises ValueError: naming the entry that is not an address or network.
    """
    networks: list[Network] = []
    for entry in text.split(","):
        item = entry.strip()
        if not item:
            continue
        if item.lower() == "localhost":
            networks.extend(LOOPBACK)
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            raise ValueError(
                f"--allow-ip needs an IP address or CIDR network such as 10.0.0.0/8 or "
                f"192.168.1.20, got {item!r}"
            ) from None
    if not networks:
        raise ValueError("--allow-ip needs an IP address or CIDR network, got nothing")
    return tuple(networks)


def validate_token(token: str) -> str:
    """
    Check a path token's shape: at least 16 characters of ``[A-Za-z0-9_-]``.

    :raises ValueError: saying what is wrong, never repeating the token.
    """
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"the access token must be at least {MIN_TOKEN_LENGTH} characters long "
            f"(it has {len(token)}); generate one with: python3 -c "
            "'import secrets; print(secrets.token_urlsafe(24))'"
        )
    if not _TOKEN.match(token):
        raise ValueError(
            "the access token may only contain letters, digits, '_' and '-' (it goes in "
            "the service address path)"
        )
    return token


def load_token(path: str) -> str:
    """
    Read the access token for ``--token-file PATH`` (surrounding whitespace ignored).

    Reading it from a file keeps it out of the process list and shell history.

    :raises ValueError: when the file cannot be read or the token is malformed; the
        message names the file, never its content.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"--token-file {path!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"--token-file {path!r} is a directory, not a file") from None
    except PermissionError:
        raise ValueError(f"--token-file {path!r} is not readable by this user") from None
    except UnicodeDecodeError:
        raise ValueError(f"--token-file {path!r} is not a text file") from None
    except OSError as error:
        raise ValueError(f"--token-file {path!r} cannot be read: {error.strerror}") from None
    token = text.strip()
    if not token:
        raise ValueError(f"--token-file {path!r} is empty")
    if "\n" in token:
        raise ValueError(f"--token-file {path!r} must hold the token on a single line")
    try:
        return validate_token(token)
    except ValueError as error:
        raise ValueError(f"--token-file {path!r}: {error}") from None
