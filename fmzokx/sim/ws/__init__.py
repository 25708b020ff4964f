"""
okxsim's WebSocket: OKX's public market-data channels on ``/ws/v5/public`` and
``/ws/v5/business``, pushed from the same deterministic market as the REST endpoints.
"""

from fmzokx.sim.ws.channels import BUSINESS, PUBLIC
from fmzokx.sim.ws.faults import MODES
from fmzokx.sim.ws.server import WsServer

__all__ = ["BUSINESS", "MODES", "PUBLIC", "WsServer"]
