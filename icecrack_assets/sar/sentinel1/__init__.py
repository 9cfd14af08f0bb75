"""Reading Sentinel-1: product names, SAFE, calibration, thermal noise, geocoding, ingest."""
