"""The code location loads, and the graph has the partitioning and mappings we intend."""

import dagster as dg
import pytest

from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.definitions import defs

STAGES = [
    "raw_scenes",
    "despeckled_scenes",
    "labelled_samples",
    "crack_model",
    "crack_maps",
    "crack_statistics",
]


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} >= set(STAGES)
    for name in ("season_job", "train_job", "statistics_job"):
        defs.resolve_job_def(name)
    assert defs.resolve_schedule_def("greenland_season_schedule")
    assert defs.resolve_sensor_def("new_acquisition_sensor")


def test_partitioning_and_explicit_mappings():
    graph = defs.resolve_asset_graph()
    node = {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}
    for name in ("raw_scenes", "despeckled_scenes", "labelled_samples", "crack_maps"):
        assert node[name].partitions_def == year_region_partitions
    assert node["crack_model"].partitions_def is None
    assert node["crack_statistics"].partitions_def is None
    mapping = graph.get_partition_mapping(dg.AssetKey("crack_model"), dg.AssetKey("labelled_samples"))
    assert isinstance(mapping, dg.AllPartitionMapping)
    assert isinstance(
        graph.get_partition_mapping(dg.AssetKey("crack_statistics"), dg.AssetKey("crack_maps")),
        dg.AllPartitionMapping,
    )


def test_every_asset_has_a_code_version_and_checks_where_promised():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).code_version, key
    check_names = {k.name for k in graph.asset_check_keys}
    assert {
        "matches_region_grid",
        "not_all_nodata",
        "despeckling_preserves_mean",
        "metrics_above_method_floor",
        "crack_maps_valid",
    } <= check_names


def test_workspace_and_dg_agree_on_the_code_location_name():
    from pathlib import Path

    import tomllib
    import yaml

    root = Path(__file__).resolve().parents[2]
    ws = yaml.safe_load((root / "workspace.yaml").read_text())
    entry = ws["load_from"][0]["python_module"]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert entry["location_name"] == project["tool"]["dg"]["project"]["code_location_name"] == "icecrack"
    assert entry["module_name"] == project["tool"]["dg"]["project"]["code_location_target_module"]


def test_model_config_defaults_are_the_cores_and_the_operating_point_is_a_choice():
    import dataclasses

    from icecrack_assets.dagster_defs.assets.crack_model import ModelConfig
    from icecrack_assets.ml.train import TrainConfig

    core = dataclasses.asdict(TrainConfig())
    assert {k: core[k] for k in ModelConfig.model_fields} == ModelConfig().model_dump()
    assert ModelConfig(operating_point="f1").train_config("cpu").operating_point == "f1"
    with pytest.raises(Exception, match="operating_point"):
        ModelConfig(operating_point="f2")


def test_the_ui_explains_every_definition():
    """Descriptions on sensors and schedules, owners and kinds on assets, described config fields."""
    from icecrack_assets.dagster_defs.assets.crack_maps import CrackMapsConfig
    from icecrack_assets.dagster_defs.assets.crack_model import ModelConfig
    from icecrack_assets.dagster_defs.assets.despeckled_scenes import DespeckleConfig
    from icecrack_assets.dagster_defs.assets.labelled_samples import SamplesConfig
    from icecrack_assets.definitions import build_defs

    defs = build_defs()
    for sensor in defs.sensors or []:
        assert sensor.description, sensor.name
    for schedule in defs.schedules or []:
        assert schedule.description, schedule.name
    for spec in defs.resolve_all_asset_specs():
        assert spec.owners and spec.kinds and spec.description, spec.key
        assert ("pytorch" in spec.kinds) == (spec.key.path[-1] == "crack_model"), spec.key
    for config in (DespeckleConfig, ModelConfig, SamplesConfig, CrackMapsConfig):
        for name, field in config.model_fields.items():
            assert field.description, f"{config.__name__}.{name}"
    assert set(DespeckleConfig.model_fields["filter"].annotation.__args__) >= {"ppb", "lee", "none"}
