"""Benchmarks (not tests): each ``python -m bench.<name>`` prints its figures; docs/performance/ quotes them."""
