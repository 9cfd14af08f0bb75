"""Bytes each materialisation adds to the Dagster event log, per asset (issue 16).

Usage: DAGSTER_HOME=<instance> .venv/bin/python benchmarks/event_log_bytes.py [--entries]
Prints, per asset, the number of materialisations and the mean/max size of the serialised
ASSET_MATERIALIZATION event (what the instance stores per partition and run). With ``--entries``,
also the largest metadata entries of each asset's latest materialisation (e.g. the WebP thumbnail
of a quick-look, ``*_thumbnail``), so a budget can be checked entry by entry. Read-only.
"""

from __future__ import annotations

import argparse
import statistics

import dagster as dg
from dagster._serdes import serialize_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", action="store_true", help="the 3 largest metadata entries per asset")
    args = parser.parse_args()
    with dg.DagsterInstance.get() as instance:
        print(f"instance: {instance.root_directory}")
        print(f"{'asset':<20} {'events':>6} {'mean bytes':>11} {'max bytes':>10}")
        largest: dict[str, list[tuple[int, str]]] = {}
        for key in sorted(instance.get_asset_keys(), key=lambda k: k.to_user_string()):
            records = instance.fetch_materializations(key, limit=1000).records
            sizes = [len(serialize_value(r.event_log_entry)) for r in records]
            if sizes:
                print(
                    f"{key.to_user_string():<20} {len(sizes):>6} {statistics.mean(sizes):>11.0f} {max(sizes):>10}"
                )
                materialization = records[0].asset_materialization
                if materialization is not None:
                    entries = [(len(serialize_value(v)), k) for k, v in materialization.metadata.items()]
                    largest[key.to_user_string()] = sorted(entries, reverse=True)[:3]
        if args.entries:
            print("\nlargest metadata entries of the latest materialisation (serialised bytes):")
            for asset, entries in largest.items():
                print(f"  {asset:<20} " + ", ".join(f"{k} {n}" for n, k in entries))


if __name__ == "__main__":
    main()
