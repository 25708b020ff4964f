"""
okxsim's WebSocket: OKX's public market-data channels on ``/ws/v5/public`` and
``/ws/v5/business``, pushed from the same deterministic market as the REST endpoints.
"""

from .channels import BUSINESS, PUBLIC
from .faults import MODES
from .server import WsServer

__all__ = ["BUSINESS", "MODES", "PUBLIC", "WsServer"]
