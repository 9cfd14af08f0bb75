"""Subcommands of ``icecrack``: each module registers one parser (see :mod:`icecrack_assets.cli`)."""
