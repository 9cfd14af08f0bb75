"""SAR core: reading, calibration, despeckling and simulation. Knows nothing of Dagster."""
