"""Bytes each materialisation adds to the Dagster event log, per asset (issue 16: no base64 images).

Usage: DAGSTER_HOME=<instance> .venv/bin/python benchmarks/event_log_bytes.py
Prints, per asset, the number of materialisations and the mean/max size of the serialised
ASSET_MATERIALIZATION event (what the instance stores per partition and run).
"""

from __future__ import annotations

import statistics

import dagster as dg
from dagster._serdes import serialize_value


def main() -> None:
    with dg.DagsterInstance.get() as instance:
        print(f"instance: {instance.root_directory}")
        print(f"{'asset':<20} {'events':>6} {'mean bytes':>11} {'max bytes':>10}")
        for key in sorted(instance.get_asset_keys(), key=lambda k: k.to_user_string()):
            records = instance.fetch_materializations(key, limit=1000).records
            sizes = [len(serialize_value(r.event_log_entry)) for r in records]
            if sizes:
                print(
                    f"{key.to_user_string():<20} {len(sizes):>6} {statistics.mean(sizes):>11.0f} {max(sizes):>10}"
                )


if __name__ == "__main__":
    main()
