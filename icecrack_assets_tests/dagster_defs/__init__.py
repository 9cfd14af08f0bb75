"""Tests of the Dagster layer: definitions, partitions, sensors, schedules, checks, the pipeline."""
