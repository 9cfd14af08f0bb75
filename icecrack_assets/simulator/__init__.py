"""The embedded data source: Sentinel-1-like scenes with crevasse truth (not SAR processing)."""
