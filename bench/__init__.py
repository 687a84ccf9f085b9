"""Benchmarks (not tests): each ``python -m bench.<name>`` prints its figures; the README quotes them."""
