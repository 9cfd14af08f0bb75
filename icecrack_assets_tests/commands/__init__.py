"""Tests of the icecrack subcommands of the UI/demo area (demo, serve-previews)."""
