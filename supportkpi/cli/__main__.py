"""``python -m supportkpi.cli``: the same entry point as ``support-kpi``."""

from supportkpi.cli import main

main()
