"""The pure statechart engine: no I/O, no clock, no randomness, no globals.

Every front end compiles to a :class:`~interlock.core.chart.Chart`; every runtime drives it with
:func:`~interlock.core.step.start` and :func:`~interlock.core.step.step`.
"""
