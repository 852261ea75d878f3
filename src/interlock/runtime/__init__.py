"""Runtimes: drive the pure engine and carry out the effects it returns.

- :mod:`interlock.runtime.memory`: everything in memory, for tests, simulation and the conformance suite.
"""
