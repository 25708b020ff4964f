"""
fmzokx: a production gateway between the FMZ Quant custom protocol and OKX v5.

The package is laid out by side of the wire:

- :mod:`fmzokx.fmz` -- the FMZ side (the docker's JSON-RPC envelope, symbols,
  method handlers, the Klein resource);
- :mod:`fmzokx.okx` -- the OKX side (signing, the treq client, pacing, clock sync);
- :mod:`fmzokx.sim` -- ``okxsim``, a simulated OKX v5 exchange;
- :mod:`fmzokx.tap` -- the ``twistd fmzokx`` service wiring.
"""

__version__ = "0.1.0.dev0"
