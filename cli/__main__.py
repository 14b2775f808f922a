"""`python -m cli`: the same as the `ockam` command."""

from . import main

main()
