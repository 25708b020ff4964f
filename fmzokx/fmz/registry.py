# -*- test-case-name: tests.fmz.test_registry -*-
"""
The one registry of FMZ method handlers.

Declaring a method is one decorator on one ``async def``; the declaration only describes
the handler (it registers nothing when the module is imported)::

    @method("ticker", summary="Best bid/ask and 24 h statistics",
            params=[Param("symbol", "FMZ symbol, e.g. ETH_USDT")],
            data="{symbol, buy, sell, high, low, open, last, vol, time}",
            okx=[TICKER])
    async def ticker(context: CallContext, request: RpcRequest) -> RpcResult:
        ...

:func:`build_registry` then collects the declared handlers of the given modules into a
:class:`MethodRegistry`. The same declarations drive dispatch (names are
case-insensitive, aliases allowed), the "unsupported method" error (which lists what is
supported) and the generated protocol reference in the documentation, so the three cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from types import ModuleType
from typing import Any, Generic, TypeVar

from attrs import define, evolve, field, frozen

from fmzokx.fmz.envelope import RpcRequest
from fmzokx.okx.endpoints import Channel, Endpoint

__all__ = [
    "MethodRegistry",
    "MethodSpec",
    "Param",
    "RpcResult",
    "build_registry",
    "method",
    "prefix",
]

_SPEC = "__fmz_method__"

ContextT = TypeVar("ContextT")


@frozen
class RpcResult:
    """A handler's answer: ``data`` for the docker, ``raw`` = the OKX payload(s) behind it."""

    data: Any
    raw: Any = None


@frozen
class Param:
    """A documented parameter of a method."""

    name: str
    description: str
    required: bool = True


Handler = Callable[[ContextT, RpcRequest], Awaitable[RpcResult]]


@frozen
class MethodSpec(Generic[ContextT]):
    """Everything known about one method: how to run it and how to document it."""

    name: str
    handler: Handler[ContextT]
    summary: str
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    data: str = ""
    okx: str = ""
    private: bool = False
    prefix: bool = False
    changes: bool = False


@define
class MethodRegistry(Generic[ContextT]):
    """Handlers by lower-cased name, plus prefix handlers (``__api_<path>``)."""

    _by_name: dict[str, MethodSpec[ContextT]] = field(factory=dict)
    _prefixes: dict[str, MethodSpec[ContextT]] = field(factory=dict)
    _specs: list[MethodSpec[ContextT]] = field(factory=list)

    def add(self, spec: MethodSpec[ContextT]) -> None:
        """Register one declared method (a name, its aliases or a prefix)."""
        if spec.prefix:
            key = spec.name.removesuffix("<path>")
            if key in self._prefixes:
                raise ValueError(f"prefix {key!r} is registered twice")
            self._prefixes[key] = spec
        else:
            for name in (spec.name, *spec.aliases):
                folded = name.lower()
                if folded in self._by_name:
                    raise ValueError(f"method {name!r} is registered twice")
                self._by_name[folded] = spec
        self._specs.append(spec)

    def method(self, name: str, **declaration: Any) -> Callable[[Handler[ContextT]],
                                                                Handler[ContextT]]:
        """Declare and register at once (see :func:`method`); for tests and small apps."""

        def register(handler: Handler[ContextT]) -> Handler[ContextT]:
            self.add(spec_of(method(name, **declaration)(handler)))
            return handler

        return register

    def prefix(self, text: str, **declaration: Any) -> Callable[[Handler[ContextT]],
                                                                Handler[ContextT]]:
        """Declare and register a prefix handler at once (see :func:`prefix`)."""

        def register(handler: Handler[ContextT]) -> Handler[ContextT]:
            self.add(spec_of(prefix(text, **declaration)(handler)))
            return handler

        return register

    def resolve(self, method: str) -> MethodSpec[ContextT] | None:
        """The spec handling ``method``, or ``None``."""
        for prefix, spec in self._prefixes.items():
            if method.startswith(prefix):
                return spec
        return self._by_name.get(method.lower())

    def names(self) -> list[str]:
        """The canonical method names, for the "unsupported method" error."""
        return sorted(spec.name for spec in self._specs)

    def specs(self) -> list[MethodSpec[ContextT]]:
        """Every registered method, in registration order (for the documentation)."""
        return list(self._specs)

    def unsupported(self, method: str) -> str:
        """The error text for an unknown method."""
        supported = ", ".join(self.names()) or "none yet"
        shown = method if len(method) <= 64 else method[:61] + "..."
        return f"unsupported method: {shown}; supported: {supported}"


def _okx_text(okx: str | Iterable[Endpoint | Channel]) -> str:
    if isinstance(okx, str):
        return okx
    return ", ".join(str(endpoint) for endpoint in okx)


def method(
    name: str,
    *,
    summary: str,
    params: Iterable[Param] = (),
    aliases: Iterable[str] = (),
    data: str = "",
    okx: str | Iterable[Endpoint | Channel] = "",
    private: bool = False,
    changes: bool = False,
) -> Callable[[Handler[Any]], Handler[Any]]:
    """
    Declare the decorated coroutine function as the handler of FMZ method ``name``.

    :param okx: the OKX endpoints it calls (and WebSocket channels it reads), or a
        sentence naming them (for the docs).
    :param changes: it changes something (an order, a cancel, leverage, the daemon's
        per-key state): each call is logged at ``info`` even when it succeeds, where a
        read that succeeds is logged at ``debug``.
    """

    def declare(handler: Handler[Any]) -> Handler[Any]:
        spec = MethodSpec(
            name=name,
            handler=handler,
            summary=summary,
            params=tuple(params),
            aliases=tuple(aliases),
            data=data,
            okx=_okx_text(okx),
            private=private,
            changes=changes,
        )
        setattr(handler, _SPEC, spec)
        return handler

    return declare


def prefix(
    text: str,
    *,
    summary: str,
    params: Iterable[Param] = (),
    data: str = "",
    okx: str | Iterable[Endpoint | Channel] = "",
    private: bool = True,
) -> Callable[[Handler[Any]], Handler[Any]]:
    """Declare a handler for every method starting with ``text`` (matched exactly)."""

    def declare(handler: Handler[Any]) -> Handler[Any]:
        declared = spec_of(method(text + "<path>", summary=summary, params=params, data=data,
                                  okx=okx, private=private)(handler))
        setattr(handler, _SPEC, evolve(declared, prefix=True))
        return handler

    return declare


def spec_of(handler: Handler[Any]) -> MethodSpec[Any]:
    """The declaration :func:`method` or :func:`prefix` attached to ``handler``."""
    spec: MethodSpec[Any] = getattr(handler, _SPEC)
    return spec


def build_registry(modules: Iterable[ModuleType]) -> MethodRegistry[Any]:
    """A registry of every handler declared in ``modules``, in declaration order."""
    registry: MethodRegistry[Any] = MethodRegistry()
    for module in modules:
        for value in vars(module).values():
            spec = getattr(value, _SPEC, None)
            if (isinstance(spec, MethodSpec) and spec.handler is value
                    and getattr(value, "__module__", None) == module.__name__):
                registry.add(spec)
    return registry
