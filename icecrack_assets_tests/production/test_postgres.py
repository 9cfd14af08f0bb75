"""The production instance (deploy/dagster.yaml) against a real PostgreSQL on 127.0.0.1.

A partition is materialised by the multiprocess executor (one process per step, all writing
events to PostgreSQL concurrently), then a fresh instance reads its lineage back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from icecrack_assets_tests.helpers import small_pipeline as sp
from icecrack_assets_tests.helpers.postgres import pg_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
DEPLOY_YAML = REPO / "deploy" / "dagster.yaml"


def test_production_yaml_takes_every_connection_setting_from_the_environment():
    cfg = yaml.safe_load(DEPLOY_YAML.read_text())
    db = cfg["storage"]["postgres"]["postgres_db"]
    assert db["password"] == {"env": "PGPASSWORD"}
    assert {k: v for k, v in db.items() if k != "params"} == {
        "hostname": {"env": "PGHOST"},
        "port": {"env": "PGPORT"},
        "username": {"env": "PGUSER"},
        "password": {"env": "PGPASSWORD"},
        "db_name": {"env": "PGDATABASE"},
        "scheme": "postgresql+psycopg2",
    }
    # the training pool is capped so one GPU is never shared by two trainings
    assert cfg["concurrency"]["pools"]["default_limit"] == 1


@pytest.fixture
def pg_instance(pg_server, tmp_path, monkeypatch):  # noqa: F811
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    for k, v in pg_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_partition_materialised_on_postgres_and_lineage_read_back(pg_server, pg_instance, tmp_path):  # noqa: F811
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    instance = pg_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    data = tmp_path / "data"
    sp.simulate(data, ["jakobshavn"], count=2)
    result = dg.execute_job(
        dg.reconstructable(sp.season_job_def),
        instance=instance,
        asset_selection=sp.INGEST,
        tags=sp.partition_tags("jakobshavn"),
        run_config=sp.run_config(data, ops=("despeckled_scenes", "labelled_samples")),
    )
    assert result.success
    run_id = result.run_id

    # a fresh instance (as the webserver would open it) sees the run and its lineage
    with dg.DagsterInstance.get() as fresh:
        run = fresh.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == "jakobshavn|2024"
        key = str(sp.key("jakobshavn"))
        events = {
            a: fresh.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(a), asset_partitions=[key]), limit=5
            ).records
            for a in ("raw_scenes", "despeckled_scenes", "labelled_samples")
        }
        assert all(len(v) == 1 and v[0].run_id == run_id for v in events.values())
        raw_meta = events["raw_scenes"][0].asset_materialization.metadata
        desp_meta = events["despeckled_scenes"][0].asset_materialization.metadata
        manifest = json.loads((data / "raw" / "jakobshavn" / "2024" / "manifest.json").read_text())
        assert raw_meta["scene_ids"].value == [s["scene_id"] for s in manifest["scenes"]]
        assert desp_meta["scene_ids"].value == raw_meta["scene_ids"].value  # lineage scene by scene
        assert raw_meta["scene_count"].value == 2
        assert events["despeckled_scenes"][0].asset_materialization.tags["dagster/data_version"]
        assert fresh.get_materialized_partitions(dg.AssetKey("labelled_samples")) == {key}
        checks = fresh.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("despeckled_scenes"), "despeckling_preserves_mean")]
        )
        assert checks  # check results are stored too

    # the rows really are in PostgreSQL, and the password is in none of them
    with psycopg2.connect(
        host=pg_server.host,
        port=pg_server.port,
        user=pg_server.user,
        password=pg_server.password,
        dbname=pg_server.dbname,
    ) as conn:
        cur = conn.cursor()
        cur.execute("select count(*) from runs where run_id = %s", (run_id,))
        assert cur.fetchone()[0] == 1
        cur.execute(
            "select count(*) from event_logs where run_id = %s and "
            "dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        assert cur.fetchone()[0] == 3
        cur.execute("select count(distinct dagster_event_type) from event_logs where run_id = %s", (run_id,))
        assert cur.fetchone()[0] >= 5
        cur.execute("select count(*) from event_logs where event like %s", (f"%{pg_server.password}%",))
        assert cur.fetchone()[0] == 0
        cur.execute("select to_regclass('public.jobs'), to_regclass('public.job_ticks')")
        assert all(cur.fetchone())  # schedule/sensor storage tables exist


def test_rematerialising_on_postgres_is_idempotent(pg_instance, tmp_path):
    """The same partition twice: same files, same data version, no stale leftovers."""
    data = tmp_path / "data"
    sp.simulate(data, ["thwaites"], count=1)
    job = sp.season_job_def()
    cfg = sp.run_config(data, ops=("despeckled_scenes",))
    versions, listings = [], []
    for _ in range(2):  # in-process: the storage is what is under test here
        result = job.execute_in_process(
            instance=pg_instance,
            asset_selection=sp.INGEST[:2],
            partition_key=sp.key("thwaites"),
            run_config=cfg,
        )
        assert result.success
        record = pg_instance.fetch_materializations(dg.AssetKey("despeckled_scenes"), limit=1).records[0]
        versions.append(record.asset_materialization.tags["dagster/data_version"])
        listings.append(sorted(p.name for p in (data / "despeckled" / "thwaites" / "2024").iterdir()))
    assert versions[0] == versions[1]
    assert listings[0] == listings[1]
    assert not any(name.endswith(".part") for name in listings[1])
