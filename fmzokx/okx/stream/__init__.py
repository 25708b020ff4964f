"""
OKX's WebSocket market data: connections, the order-book algorithm, and the live copy the
FMZ ticker, depth and trades methods answer from when it is in sync and fresh.
"""
