"""``python -m shared.cli`` runs the operator CLI (same as the ``defender-relay`` console script)."""

from shared.cli import run

run()
