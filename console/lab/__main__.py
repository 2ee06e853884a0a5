"""``python -m console.lab up|down|fault|status``: the lab without the rest of the CLI."""

from console.lab.commands import main

raise SystemExit(main())
