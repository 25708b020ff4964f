"""
Writes that must happen exactly once: order placement by ``clOrdId`` with the journal
(:mod:`.orders`), the background settling of unknown outcomes (:mod:`.reconcile`), and
the journalled cancels and leverage changes (:mod:`.writes`).
"""
