# -*- test-case-name: tests.sim.test_public,tests.sim.test_robustness -*-
"""
okxsim's ``/api/v5`` endpoints, one small function each, grouped by area:
:mod:`~fmzokx.sim.handlers.market` (public), :mod:`~fmzokx.sim.handlers.account` and
:mod:`~fmzokx.sim.handlers.trade` (private). Each area lists its routes in a table;
:data:`ROUTES` joins the tables, so every endpoint served is written down in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

from fmzokx.sim.handlers import account, market, trade
from fmzokx.sim.handlers.call import Call, Reply, Route

__all__ = ["API_PREFIX", "ROUTES", "Call", "Reply", "Route", "route_table"]

API_PREFIX = "/api/v5"


def route_table(routes: Iterable[Route]) -> dict[str, dict[str, Route]]:
    """Full path -> method -> route; two routes for one path and method are an error."""
    table: dict[str, dict[str, Route]] = {}
    for route in routes:
        methods = table.setdefault(API_PREFIX + route.path, {})
        if route.method in methods:
            raise ValueError(f"two routes for {route.method} {route.path}")
        methods[route.method] = route
    return table


#: path -> method -> route, for every endpoint okxsim serves
ROUTES: dict[str, dict[str, Route]] = route_table(
    (*market.ROUTES, *account.ROUTES, *trade.ROUTES)
)
