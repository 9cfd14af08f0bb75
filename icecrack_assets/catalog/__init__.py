"""Scene catalogues: where Sentinel-1 acquisitions are found (local landing zone, STAC, ASF)."""
