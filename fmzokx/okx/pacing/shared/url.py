# -*- test-case-name: tests.okx.sharedbudget.test_url -*-
"""
Where the shared rate budget lives: ``--shared-state redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``.

Parsing is a pure function so that every mistake is a clear error at start-up, before
any connection is tried. ``rediss://`` selects TLS; the server's certificate is always
verified (against the system's trust store, or a CA bundle). The password may be given
in the URL or, better, in a file (``--shared-state-password-file``) so that it is not on
the command line; either way it never appears in a ``repr``, a log line or an error.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import unquote, urlsplit

from attrs import field, frozen

__all__ = ["DEFAULT_PORT", "RedisTarget", "parse_redis_url", "read_password_file"]

DEFAULT_PORT = 6379
_MAX_DB = 65535
_MAX_PASSWORD = 512


@frozen(repr=False)
class RedisTarget:
    """
    A Redis server to connect to: address, database, credentials and whether TLS is used.

    ``repr``/``str`` and :meth:`display` show the URL with the password replaced, so a
    target can be logged.
    """

    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def display(self) -> str:
        """The URL with any password masked: safe for logs, errors and status pages."""
        scheme = "rediss" if self.tls else "redis"
        user = self.username or ""
        if self.password is not None:
            user = f"{user}:***"
        auth = f"{user}@" if user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}/{self.db}"

    def with_password(self, password: str | None) -> RedisTarget:
        """The same target authenticating with ``password``."""
        return RedisTarget(self.host, self.port, self.db, self.tls, self.username, password)

    def __repr__(self) -> str:
        return f"<RedisTarget {self.display()}>"

    __str__ = __repr__


def _host(raw: str) -> str:
    if not raw:
        raise ValueError("the shared-state URL needs a host, e.g. redis://10.0.0.5:6379/0")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    labels = raw.rstrip(".").split(".")
    if len(raw) > 253 or not all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        and not label.startswith("-") and not label.endswith("-")
        for label in labels
    ):
        raise ValueError(f"the shared-state URL's host {raw!r} is not a host name or address")
    return raw.lower()


def parse_redis_url(url: str) -> RedisTarget:
    """
    Parse ``redis://`` or ``rediss://`` (TLS) into a :class:`RedisTarget`.

    Accepted: ``redis://HOST``, ``redis://HOST:PORT/DB``, ``redis://:PASSWORD@HOST``,
    ``redis://USER:PASSWORD@HOST`` (Redis 6 ACL users), IPv6 as ``[::1]``. The port
    defaults to 6379 and the database to 0. Percent-escapes in the user and password
    are decoded.

    :raises ValueError: with a message that says what is wrong and never repeats the
        password.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(
            "the shared-state URL is not of the form redis://[:PASSWORD@]HOST:PORT/DB"
            " (check the port and brackets around an IPv6 address)"
        ) from None
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(
            "the shared-state URL must start with redis:// or rediss:// (TLS), e.g. "
            "redis://10.0.0.5:6379/0"
        )
    if parts.query or parts.fragment:
        raise ValueError("the shared-state URL takes no query or fragment (?... or #...)")
    host = _host(parts.hostname or "")
    if port is None:
        port = DEFAULT_PORT
    if not 0 < port < 65536:
        raise ValueError(f"the shared-state URL's port must be 1-65535, got {port}")
    path = parts.path.strip("/")
    if not path:
        db = 0
    elif path.isdigit() and int(path) <= _MAX_DB:
        db = int(path)
    else:
        raise ValueError(
            f"the shared-state URL's path is the database number (0-{_MAX_DB}), got {path!r}"
        )
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password == "":
        password = None
    if password is not None:
        _check_password(password, "in the shared-state URL")
    return RedisTarget(
        host=host, port=port, db=db, tls=parts.scheme == "rediss", username=username,
        password=password,
    )


def _check_password(password: str, where: str) -> None:
    if len(password) > _MAX_PASSWORD:
        raise ValueError(f"the Redis password {where} is longer than {_MAX_PASSWORD} characters")
    if any(char in password for char in "\r\n\x00"):
        raise ValueError(f"the Redis password {where} contains a line break or NUL")


def read_password_file(path: str) -> str:
    """
    The Redis password in ``path``: the first line, without its line ending.

    :raises ValueError: when the file cannot be read or is empty (the text never
        includes the file's content).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(
            f"cannot read the Redis password file {path!r} ({type(error).__name__})"
        ) from None
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise ValueError(f"the Redis password file {path!r} is empty")
    _check_password(password, f"in {path!r}")
    return password
