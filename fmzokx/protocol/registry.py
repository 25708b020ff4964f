# -*- test-case-name: tests.protocol.test_registry -*-
"""
The one registry of FMZ method handlers.

Adding a method is one decorator on one ``async def``::

    @registry.method("ticker", summary="Best bid/ask and 24 h statistics",
                     params=[Param("symbol", "FMZ symbol, e.g. ETH_USDT")],
                     data="{symbol, buy, sell, high, low, open, last, vol, time}",
                     okx="GET /api/v5/market/ticker")
    async def ticker(gateway: Gateway, request: RpcRequest) -> RpcResult:
        ...

The same declarations drive dispatch (names are case-insensitive, aliases allowed), the
"unsupported method" error (which lists what is supported) and the generated protocol
reference in the documentation, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from attrs import define, field, frozen

from fmzokx.protocol.envelope import RpcRequest

__all__ = ["MethodRegistry", "MethodSpec", "Param", "RpcResult"]

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


@define
class MethodRegistry(Generic[ContextT]):
    """Handlers by lower-cased name, plus prefix handlers (``__api_<path>``)."""

    _by_name: dict[str, MethodSpec[ContextT]] = field(factory=dict)
    _prefixes: dict[str, MethodSpec[ContextT]] = field(factory=dict)
    _specs: list[MethodSpec[ContextT]] = field(factory=list)

    def method(
        self,
        name: str,
        *,
        summary: str,
        params: Iterable[Param] = (),
        aliases: Iterable[str] = (),
        data: str = "",
        okx: str = "",
        private: bool = False,
    ) -> Callable[[Handler[ContextT]], Handler[ContextT]]:
        """Register the decorated coroutine function as the handler of ``name``."""

        def register(handler: Handler[ContextT]) -> Handler[ContextT]:
            spec = MethodSpec(
                name=name,
                handler=handler,
                summary=summary,
                params=tuple(params),
                aliases=tuple(aliases),
                data=data,
                okx=okx,
                private=private,
            )
            for key in (name, *spec.aliases):
                folded = key.lower()
                if folded in self._by_name:
                    raise ValueError(f"method {key!r} is registered twice")
                self._by_name[folded] = spec
            self._specs.append(spec)
            return handler

        return register

    def prefix(
        self,
        prefix: str,
        *,
        summary: str,
        params: Iterable[Param] = (),
        data: str = "",
        okx: str = "",
        private: bool = True,
    ) -> Callable[[Handler[ContextT]], Handler[ContextT]]:
        """Register a handler for every method starting with ``prefix`` (matched exactly)."""

        def register(handler: Handler[ContextT]) -> Handler[ContextT]:
            if prefix in self._prefixes:
                raise ValueError(f"prefix {prefix!r} is registered twice")
            spec = MethodSpec(
                name=prefix + "<path>",
                handler=handler,
                summary=summary,
                params=tuple(params),
                data=data,
                okx=okx,
                private=private,
                prefix=True,
            )
            self._prefixes[prefix] = spec
            self._specs.append(spec)
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
