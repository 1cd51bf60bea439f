"""Helpers shared by the reliability tests (faults, concurrency, privacy): small generated days, sweeps in a
subprocess, output snapshots that can be compared across homes, log capture."""
