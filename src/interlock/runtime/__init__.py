"""Runtimes: drive the pure engine and carry out the effects it returns.

- :mod:`interlock.runtime.memory`: everything in memory, for tests, simulation and the conformance suite.
- :mod:`interlock.runtime.durable`: instances in a database, one transaction per step, with timers, tasks
  and child instances (the API over it is :class:`interlock.Interlock`).
"""
