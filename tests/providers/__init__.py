"""Each provider's tests: its tools against the simulator (or a server of the test's own)."""
