"""Jobs: a season of one region (partitioned), training, and the cross-partition statistics."""

from __future__ import annotations

import dagster as dg

SEASON_ASSETS = ("raw_scenes", "despeckled_scenes", "labelled_samples", "crack_maps")
INGEST_ASSETS = ("raw_scenes", "despeckled_scenes", "labelled_samples")

season_job = dg.define_asset_job(
    "season_job",
    selection=dg.AssetSelection.assets(*SEASON_ASSETS),
    description="One region's season: ingest, despeckle, sample and map (uses the latest model).",
    tags={"icecrack/kind": "season"},
)
train_job = dg.define_asset_job(
    "train_job",
    selection=dg.AssetSelection.assets("crack_model"),
    description="Train the U-Net on every labelled partition.",
)
statistics_job = dg.define_asset_job(
    "statistics_job",
    selection=dg.AssetSelection.assets("crack_statistics"),
    description="Recompute crack statistics across partitions.",
)
