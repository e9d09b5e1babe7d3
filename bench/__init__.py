"""Benchmarks: each compares our code with a baseline run in the same process."""
