"""
The FMZ method handlers, one module per family, all registered on one registry.

Importing a handler module registers its methods; :func:`default_registry` returns the
registry with every family loaded.
"""

from __future__ import annotations

from typing import Any

from fmzokx.protocol.registry import MethodRegistry

__all__ = ["default_registry", "registry"]

registry: MethodRegistry[Any] = MethodRegistry()
"""The daemon's registry; handler modules decorate their functions with it."""


def default_registry() -> MethodRegistry[Any]:
    """The registry with every handler module imported."""
    return registry
