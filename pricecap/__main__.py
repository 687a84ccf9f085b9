"""``python -m pricecap``: the same as the ``pricecap`` command."""

from pricecap.cli import main

main()
