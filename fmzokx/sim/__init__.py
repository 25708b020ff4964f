"""
okxsim: a simulated OKX v5 REST exchange for tests, benchmarks and offline sandboxes.

There is no internet where fmzokx is developed and strategies should be tried without
risking money, so this package reproduces OKX at the REST level closely enough that an
unmodified OKX client works against it with only the base URL changed: the same signing,
envelopes, error codes, pagination and rate limits, over a deterministic synthetic market.

Use :class:`Simulator` directly (``StubTreq(sim.resource())`` in tests, a ``Site`` when
embedding) or run ``twistd okxsim``.
"""

from __future__ import annotations

from fmzokx.sim.faults import MODES as FAULT_MODES
from fmzokx.sim.model import DEFAULT_BALANCES, SimAccount
from fmzokx.sim.settings import SimSettings
from fmzokx.sim.simulator import DEFAULT_ACCOUNT, Simulator

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_BALANCES",
    "FAULT_MODES",
    "SimAccount",
    "SimSettings",
    "Simulator",
]
