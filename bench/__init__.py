"""Benchmarks behind the README's performance figures (not part of the test suite)."""
