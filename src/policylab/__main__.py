"""``python -m policylab``: the same command as ``policylab``."""

from policylab.cli import main

main()
