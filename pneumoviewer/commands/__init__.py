"""Subcommands of the `pneumoviewer` CLI, one module each (see `pneumoviewer.cli.COMMANDS`)."""
