"""``python -m capacity.cli``: the same as the ``capacity`` command."""

from capacity.cli import main

main()
