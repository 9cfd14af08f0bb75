"""Tests of icecrack_assets.sar: Sentinel-1 reading and despeckling."""
