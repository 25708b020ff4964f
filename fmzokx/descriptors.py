# -*- test-case-name: tests.test_descriptors -*-
"""
The process's file-descriptor budget, and how many docker connections fit in it.

systemd and most shells start a process with a soft ``RLIMIT_NOFILE`` of 1,024 while
allowing far more (the hard limit). Past the soft limit every ``accept`` fails with
``EMFILE``, and Twisted then accepts and drops connections to drain the backlog: 1,100
idle connections made the daemon refuse every docker call. So at start-up the soft limit
is raised to the hard one (:func:`raise_soft_limit`), and the RPC site holds at most
:func:`connection_cap` connections -- the limit minus :data:`HEADROOM` descriptors left
for OKX sockets, the sandbox, logs and the listening sockets themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

__all__ = [
    "DEFAULT_CEILING",
    "HEADROOM",
    "DescriptorLimit",
    "connection_cap",
    "raise_soft_limit",
    "soft_limit",
]

HEADROOM = 128
"""Descriptors kept free of docker connections: upstream pool, sandbox, logs, listeners."""

DEFAULT_CEILING = 4096
"""
The default cap however high the limit: a docker needs a handful of connections, and
every open connection costs memory too (``--max-connections`` may go higher).
"""

# Linux refuses an unlimited soft RLIMIT_NOFILE; its usual fs.nr_open is 2**20.
_UNLIMITED_TARGET = 1 << 20

Getter = Callable[[int], tuple[int, int]]
Setter = Callable[[int, tuple[int, int]], None]


@frozen
class DescriptorLimit:
    """
    The open-files limit after :func:`raise_soft_limit`.

    :ivar soft: the soft limit now in force (``None`` where the platform has none).
    :ivar hard: the hard limit.
    :ivar before: the soft limit found at start-up.
    :ivar error: why raising failed, or ``""``.
    """

    soft: int | None
    hard: int | None
    before: int | None
    error: str = ""

    @property
    def raised(self) -> bool:
        """Whether the soft limit went up."""
        return self.soft is not None and self.before is not None and self.soft > self.before


def raise_soft_limit(
    getrlimit: Getter | None = None, setrlimit: Setter | None = None
) -> DescriptorLimit:
    """
    Raise the soft open-files limit to the hard one (an unlimited hard limit: to 2**20).

    Never raises: on a platform without ``resource`` the limit is unknown (``None``),
    and a refused ``setrlimit`` leaves the soft limit as it was, with the reason.
    """
    try:
        import resource
    except ImportError:  # not POSIX
        return DescriptorLimit(None, None, None, "no resource module on this platform")
    get = getrlimit if getrlimit is not None else resource.getrlimit
    put = setrlimit if setrlimit is not None else resource.setrlimit
    kind = resource.RLIMIT_NOFILE
    unlimited = resource.RLIM_INFINITY

    def finite(value: int) -> int | None:
        return None if value == unlimited else value

    soft, hard = get(kind)
    target = _UNLIMITED_TARGET if hard == unlimited else hard
    if soft == unlimited or soft >= target:
        return DescriptorLimit(finite(soft), finite(hard), finite(soft))
    try:
        put(kind, (target, hard))
    except (ValueError, OSError) as error:
        return DescriptorLimit(finite(soft), finite(hard), finite(soft),
                               f"{type(error).__name__}: {error}")
    return DescriptorLimit(target, finite(hard), finite(soft))


def soft_limit() -> int | None:
    """The soft open-files limit now in force (``None``: unknown or unlimited)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(
    soft: int | None, requested: int | None = None, *, headroom: int = HEADROOM
) -> int:
    """
    The most connections the RPC site may hold with ``soft`` descriptors.

    ``soft - headroom`` (never below half of ``soft``), and by default no more than
    :data:`DEFAULT_CEILING`; a ``requested`` cap (``--max-connections``) is honoured up
    to the same descriptor bound, past which ``accept`` itself would fail.
    """
    if soft is None:
        bound = DEFAULT_CEILING if requested is None else requested
    else:
        bound = max(soft - headroom, soft // 2, 1)
    if requested is None:
        return min(bound, DEFAULT_CEILING)
    return max(1, min(requested, bound))
