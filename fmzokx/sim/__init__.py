"""okxsim: a simulated OKX v5 REST exchange for tests, benchmarks and offline sandboxes."""
