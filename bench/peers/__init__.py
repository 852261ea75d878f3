"""The benchmark machines built in peer libraries, each behind :class:`bench.core_machines.Instance`."""
