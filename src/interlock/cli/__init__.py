"""The ``interlock`` command: validate, simulate and draw machines, and run the demo."""
