"""
The FMZ method handlers, one module per family, all registered on one registry.

Importing a handler module registers its methods; :func:`default_registry` imports every
family and returns the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

from fmzokx.protocol.registry import MethodRegistry

__all__ = ["FAMILIES", "default_registry", "registry"]

registry: MethodRegistry[Any] = MethodRegistry()
"""The daemon's registry; handler modules decorate their functions with it."""

FAMILIES = ("market", "account", "trading", "futures", "passthrough")
"""The handler modules, in documentation order."""


def default_registry() -> MethodRegistry[Any]:
    """The registry with every handler module imported."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
    return registry
