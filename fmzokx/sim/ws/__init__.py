"""
okxsim's WebSocket: OKX's public market-data channels on ``/ws/v5/public`` and
``/ws/v5/business``, pushed from the same deterministic market as the REST endpoints, and
the private account, positions and orders channels on ``/ws/v5/private``, pushed from
the same exchange state (:mod:`fmzokx.sim.ws.private`, :mod:`fmzokx.sim.ws.pushes`).
"""

from fmzokx.sim.ws.channels import BUSINESS, PUBLIC
from fmzokx.sim.ws.faults import MODES, PRIVATE
from fmzokx.sim.ws.server import WsServer

__all__ = ["BUSINESS", "MODES", "PRIVATE", "PUBLIC", "WsServer"]
