"""``python -m traceability`` runs the ``tracecheck`` command."""

from traceability.cli import main

main()
