"""
The FMZ method handlers, one module per family.

Each module declares its handlers with :func:`fmzokx.fmz.registry.method`;
:func:`default_registry` builds the daemon's registry from every family, explicitly.
"""

from __future__ import annotations

from typing import Any

from fmzokx.fmz.methods import account, futures, market, passthrough, trading
from fmzokx.fmz.registry import MethodRegistry, build_registry

__all__ = ["FAMILIES", "default_registry"]

FAMILIES = (market, account, trading, futures, passthrough)
"""The handler modules, in documentation order."""


def default_registry() -> MethodRegistry[Any]:
    """A new registry holding every handler of every family."""
    return build_registry(FAMILIES)
