"""Benchmarks of the engine against a read-twice/write-once floor (`python -m benchmarks`)."""
