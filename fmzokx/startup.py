# -*- test-case-name: tests.integration.test_startup_errors -*-
"""
Start-up mistakes as one line and a non-zero exit status, not a traceback or a hang.

Left alone, ``twistd`` answers a port that is already taken with a 30-line traceback, a
bad option with the whole ``--help`` text before the one line that matters, and a
failure inside ``startService`` of a daemonised start with nothing at all: the parent
waits for a child that never reports. An operator needs the line: which option, address
or file, what is wrong, what to do.

- :func:`command_line` wraps a plugin's :class:`~twisted.python.usage.Options` so a
  :class:`~twisted.python.usage.UsageError` becomes ``twistd NAME: <message>`` on
  standard error and exit status 1 (``--help`` still prints the help);
- the fallible start-up work (binding ports, locking and checking the journal) is done
  by ``makeService``, before twistd daemonises, through :func:`prepare`: each service of
  the tree with a ``prepare()`` method does its part and raises :class:`StartupError`,
  which :func:`built_or_exit` turns into ``twistd NAME: <problem>`` and exit status 1;
- :class:`ListenService` is Twisted's endpoint service whose port is bound by
  ``prepare()`` (a failure is one line naming the endpoint and the reason).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService, IServiceCollection
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolFactory, IStreamServerEndpoint
from twisted.python import usage
from zope.interface import implementer

__all__ = [
    "ListenService",
    "StartupError",
    "built_or_exit",
    "check_endpoint",
    "command_line",
    "listen_problem",
    "listen_service",
    "prepare",
]

_REASONS = {
    errno.EADDRINUSE: (
        "the address is already in use (another fmzokx, or another program, holds this "
        "port: stop it or choose another port with {option})"
    ),
    errno.EACCES: (
        "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; a UNIX "
        "socket needs a writable directory)"
    ),
    errno.EADDRNOTAVAIL: "this machine has no such address (check {option}'s interface=)",
}


def listen_problem(
    description: str, error: CannotListenError, option: str = "--listen"
) -> str:
    """The one line for a listener (given by ``option``) that could not start."""
    cause: Any = error.socketError
    code = getattr(cause, "errno", None)
    reason = _REASONS.get(code) if isinstance(code, int) else None
    if reason is not None:
        reason = reason.format(option=option)
    else:
        reason = getattr(cause, "strerror", None) or str(cause)
    return f"cannot listen on {description}: {reason}"


class StartupError(Exception):
    """A reason the daemon cannot start, in one line for the operator."""


class ListenService(StreamServerEndpointService):
    """
    :class:`StreamServerEndpointService` whose port is bound by :meth:`prepare`, in
    ``makeService``: a port that is taken fails the start before twistd daemonises.
    """

    def __init__(
        self, endpoint: Any, factory: IProtocolFactory, description: str,
        option: str = "--listen",
    ) -> None:
        super().__init__(endpoint, factory)  # type: ignore[no-untyped-call]
        self.description = description
        self.option = option
        self._raiseSynchronously = True

    def prepare(self) -> None:
        """
        Listen now (the reactor accepts once it runs).

        :raises StartupError: naming the endpoint and the reason.
        """
        if self._waitingForPort is not None:
            return
        try:
            super().privilegedStartService()  # type: ignore[no-untyped-call]
        except CannotListenError as error:
            self._waitingForPort = None
            raise StartupError(listen_problem(self.description, error, self.option)) from None
        except Exception as error:
            # UNIX sockets, for one, raise plain OSErrors (a missing directory).
            self._waitingForPort = None
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise StartupError(f"cannot listen on {self.description}: {reason}") from None

    def abandon(self) -> None:
        """Close the port again (another start-up step failed)."""
        if self._waitingForPort is not None:
            self.stopService()  # type: ignore[no-untyped-call]

    def privilegedStartService(self) -> None:
        # Bound by prepare() already in the daemon; tests may start without it.
        if self._waitingForPort is None:
            super().privilegedStartService()  # type: ignore[no-untyped-call]

    @property
    def port(self) -> Any:
        """The listening port (an ``IListeningPort``) once bound, else ``None``."""
        bound: list[Any] = []

        def found(port: Any) -> Any:
            bound.append(port)
            return port

        if self._waitingForPort is not None:
            self._waitingForPort.addCallback(found)
        return bound[0] if bound else None


def prepare(tree: Any) -> None:
    """
    Run ``prepare()`` of every service in ``tree`` that has one: the listeners first, then
    the others depth first in start order; if one raises :class:`StartupError`, call
    ``abandon()`` of those already prepared (ports closed, locks released) and re-raise.
    """
    done: list[Any] = []
    # Ports first: a taken port should not leave a new journal file behind.
    steps = sorted(
        (service for service in _walk(tree) if hasattr(service, "prepare")),
        key=lambda service: not isinstance(service, ListenService),
    )
    try:
        for service in steps:
            service.prepare()
            done.append(service)
    except StartupError:
        for service in reversed(done):
            service.abandon()
        raise


def _walk(service: Any) -> Any:
    yield service
    if IServiceCollection.providedBy(service):
        for child in service:
            yield from _walk(child)


def built_or_exit(build: Callable[[Any], IService], options: Any, command: str) -> IService:
    """
    ``build(options)``, :func:`prepare`-d: what twistd's ``makeService`` returns. A
    :class:`StartupError` exits with ``twistd COMMAND: <problem>`` on standard error and
    status 1, before twistd daemonises or starts logging.
    """
    try:
        tree = build(options)
        prepare(tree)
    except StartupError as problem:
        raise SystemExit(f"twistd {command}: {problem}") from None
    return tree


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


def listen_service(
    description: str, factory: IProtocolFactory, option: str = "--listen"
) -> ListenService:
    """
    A :class:`ListenService` for a Twisted endpoint string (``tcp:6666:...``) given by
    the command-line ``option``.
    """
    from twisted.internet import endpoints, reactor

    endpoint = _GuardedAccepts(endpoints.serverFromString(reactor, description))
    return ListenService(endpoint, factory, description, option)


def check_endpoint(option: str, description: str, example: str) -> str:
    """
    ``description`` if Twisted can build a server endpoint from it, else a one-line
    :class:`~twisted.python.usage.UsageError` naming ``option`` (not a traceback at
    start-up).
    """
    from twisted.internet.endpoints import serverFromString

    description = description.strip()
    if not description or ":" not in description:
        raise usage.UsageError(
            f"{option} needs a Twisted endpoint string such as {example}, "
            f"got {description!r}"
        )
    try:
        # Only parsed here: the endpoint keeps the reactor and uses it when it listens.
        serverFromString(_NO_REACTOR, description)
    except Exception as error:
        raise usage.UsageError(
            f"{option} {description!r} is not an endpoint Twisted can listen on ({error}); "
            f"e.g. {example}"
        ) from None
    return description


_NO_REACTOR: Any = object()


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
    CommandLine.__module__ = options.__module__
    return CommandLine
