"""Conformance suites: third-party test material run against Interlock (SCXML: W3C IRP tests)."""
