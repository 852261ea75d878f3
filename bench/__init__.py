"""Benchmarks: ``python -m bench`` (or ``make bench``) measures the pure step against peer libraries.

The same three machines (see :mod:`bench.core_machines`) are built in Interlock and in each peer, driven
with the same events, and timed in the same run. ``docs/benchmarks.md`` records results and how to
reproduce them. Nothing here is part of the unit tests; ``tests/bench`` only checks that every
implementation of a machine behaves the same.
"""
