"""Production paths for real: PostgreSQL, dask, Chromium, faults."""
