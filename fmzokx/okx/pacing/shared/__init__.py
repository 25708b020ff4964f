"""
OKX's rate budget shared by several daemons through Redis (``--shared-state``).

Desks outgrow one host: several servers, each with its own FMZ dockers and its own
fmzokx, all trading one OKX account. OKX's per-account and per-account-per-instrument
limits (and the per-IP ones, behind one egress address) then belong to all of them, so
each daemon pacing alone would overrun them together. The budgets these scopes share
are kept in Redis instead, taken atomically by a server-side script that implements
OKX's sliding window (:mod:`.script`), over one self-healing connection
(:mod:`.connection`), with a short per-call deadline and a conservative local fallback
(:mod:`.slots`, :mod:`.localshare`).

``url`` parses ``--shared-state``; ``metrics`` holds the ``fmzokx_shared_state_*``
series.
"""
