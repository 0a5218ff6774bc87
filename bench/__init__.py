"""Benchmarks: `python -m bench` prints one `name: value` line per figure."""

# What a benchmark function returns: figure name -> value, already rounded.
Figures = dict[str, int | float]


class BenchmarkFailed(Exception):
    """A figure could not be measured; the message says why."""
