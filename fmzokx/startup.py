# -*- test-case-name: tests.integration.test_startup_errors -*-
"""
Start-up mistakes as one line and a non-zero exit status, not a traceback.

Left alone, ``twistd`` answers a port that is already taken with a 30-line traceback, and
a bad option (an unreadable ``--token-file``, say) with the whole ``--help`` text before
the one line that matters. An operator needs the line: which option or address, what is
wrong, what to do.

- :func:`command_line` wraps a plugin's :class:`~twisted.python.usage.Options` so a
  :class:`~twisted.python.usage.UsageError` becomes ``twistd NAME: <message>`` on
  standard error and exit status 1 (``--help`` still prints the help);
- :class:`ListenService` is Twisted's endpoint service whose failure to listen is one
  ``critical`` log line naming the endpoint and the reason, then exit status 1.
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolFactory, IStreamServerEndpoint
from twisted.python import usage
from zope.interface import implementer

from fmzokx.logs import logger

__all__ = ["EXIT_STARTUP", "ListenService", "command_line", "listen_problem", "listen_service"]

EXIT_STARTUP = 1

log = logger(__name__)

_REASONS = {
    errno.EADDRINUSE: (
        "the address is already in use (another fmzokx, or another program, holds this "
        "port: stop it or choose another port with --listen)"
    ),
    errno.EACCES: (
        "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; a UNIX "
        "socket needs a writable directory)"
    ),
    errno.EADDRNOTAVAIL: "this machine has no such address (check --listen's interface=)",
}


def listen_problem(description: str, error: CannotListenError) -> str:
    """The one line for a listener that could not start."""
    cause: Any = error.socketError
    code = getattr(cause, "errno", None)
    reason = _REASONS.get(code) if isinstance(code, int) else None
    if reason is None:
        reason = getattr(cause, "strerror", None) or str(cause)
    return f"cannot listen on {description}: {reason}"


class ListenService(StreamServerEndpointService):
    """:class:`StreamServerEndpointService` that exits with one line when it cannot listen."""

    def __init__(self, endpoint: Any, factory: IProtocolFactory, description: str) -> None:
        super().__init__(endpoint, factory)  # type: ignore[no-untyped-call]
        self.description = description
        # Fail during privilegedStartService, where twistd can still stop cleanly.
        self._raiseSynchronously = True

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()  # type: ignore[no-untyped-call]
        except CannotListenError as error:
            log.critical("{problem}", problem=listen_problem(self.description, error))
            raise SystemExit(EXIT_STARTUP) from None


@implementer(IStreamServerEndpoint)
class _GuardedAccepts:
    """
    An endpoint whose listening port accepts no more per reactor turn than the factory's
    connection guard can hold (:func:`fmzokx.fmz.connections.bound_accepts`).
    """

    def __init__(self, inner: IStreamServerEndpoint) -> None:
        self._inner = inner

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:  # noqa: N803
        listening: Deferred[Any] = self._inner.listen(protocolFactory)
        guard = getattr(protocolFactory, "guard", None)
        if guard is not None:
            from fmzokx.fmz.connections import bound_accepts

            def bound(port: Any) -> Any:
                bound_accepts(port, guard)
                return port

            listening.addCallback(bound)
        return listening


def listen_service(description: str, factory: IProtocolFactory) -> ListenService:
    """A :class:`ListenService` for a Twisted endpoint string (``tcp:6666:...``)."""
    from twisted.internet import endpoints, reactor

    endpoint = _GuardedAccepts(endpoints.serverFromString(reactor, description))
    return ListenService(endpoint, factory, description)


def command_line(options: type[usage.Options], command: str) -> type[usage.Options]:
    """
    ``options`` as twistd should parse it: a usage error prints one line,
    ``twistd COMMAND: <message> (see twistd COMMAND --help)``, and exits with status 1.
    """

    class CommandLine(options):  # type: ignore[misc, valid-type]
        def parseOptions(self, arguments: Any = None) -> None:
            try:
                super().parseOptions(arguments)
            except usage.UsageError as error:
                raise SystemExit(
                    f"twistd {command}: {error} (see twistd {command} --help)"
                ) from None

    CommandLine.__name__ = CommandLine.__qualname__ = options.__name__
    return CommandLine
