"""The fmzokx benchmark harness: ``python bench/run.py`` (see docs/performance.rst)."""
