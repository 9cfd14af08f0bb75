"""The thin Dagster shell: assets, partitions, resources, checks, sensors, schedules, jobs.

Everything here wires the Dagster-free cores (:mod:`icecrack_assets.sar`, :mod:`icecrack_assets.ml`)
together and records lineage; no science lives here.
"""
