"""Scale-out: the season job on a dask ``distributed`` cluster, one dask task per Dagster step.

``dagster_dask.dask_executor`` names each dask task ``<job>.<step>``. Dask treats equal keys as
the same computation, so two *concurrent* runs of one job on a shared cluster (a backfill of
several partitions) collapse into one: the second run receives the first run's events and its
partition is never computed (dagster-io/dagster#21418, still so in dagster-dask 0.29.27). The
executor here is dagster-dask's with one change: task keys carry the run id. It also registers
``DefaultStopSignalPlugin`` on the workers (see there: why step log capture could stall).
Everything else (config schema, worker entry point, resource tags) is dagster-dask's own.

Use it with a persistent instance (PostgreSQL in production) that the workers can reach, and
point it at a running scheduler::

    execution:
      config:
        cluster:
          existing:
            address: {env: DASK_SCHEDULER_ADDRESS}   # e.g. tcp://10.0.0.5:8786
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator

import dagster as dg
from dagster._core.errors import raise_execution_interrupts
from dagster._core.events import DagsterEvent
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._utils import iterate_with_context

try:  # the `production` extra; without it the job still loads and says what to install when run
    from dagster_dask.executor import (
        DaskExecutor,
        dask_executor,
        get_dask_resource_requirements,
        query_on_dask_worker,
    )

    DASK_CONFIG = dask_executor.config_schema
except ImportError:  # pragma: no cover - exercised only without the extra
    DaskExecutor = object  # type: ignore[assignment,misc]
    DASK_CONFIG = dg.Field(dg.Permissive(), is_required=False)
try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - exercised only without the extra
    WorkerPlugin = object  # type: ignore[assignment,misc]

from icecrack_assets.dagster_defs.jobs import SEASON_ASSETS

DISTRIBUTED_JOB = "distributed_season_job"


def dask_task_key(job_name: str, step_key: str, run_id: str) -> str:
    """Unique per run, so concurrent runs of one job on one cluster never share a dask task."""
    return f"{job_name}.{step_key}.{run_id}"


SIGNAL_PLUGIN = "icecrack-default-sigterm"
log = logging.getLogger(__name__)


def restore_default_sigterm() -> bool:
    """SIGTERM back to the default action if this process ignores it; True if it did.

    Signal dispositions can only be changed from the main thread, so elsewhere it does nothing.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) != signal.SIG_IGN
    ):
        return False
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return True


class DefaultStopSignalPlugin(WorkerPlugin):
    """Un-ignores SIGTERM in dask worker processes, so Dagster can stop a step's ``tail -F``.

    The local compute-log manager mirrors each step's stdout/stderr through two ``tail -F``
    children and stops them with SIGTERM (``Popen.terminate``, then up to 30 s each). SIG_IGN
    survives fork and exec, so workers inherit it from the process that started them. Dagster's
    ``capture_interrupts`` (around every in-process run) leaves SIGTERM ignored on exit if SIGINT
    was ignored (``setup_interrupt_handlers`` copies SIGINT's handler onto SIGTERM), and SIGINT is
    ignored in any background job of a non-interactive shell (``cmd &`` in a script or CI).
    Workers started by such a process after a Dagster run made every step wait 60 s and leak its
    tails. SIGHUP/SIGINT/SIGQUIT stay as the launcher chose: Dagster never stops children with
    them. ``setup`` runs on the worker's event loop: the main thread of a nanny-started or
    ``dask worker`` process, the only thread allowed to change signal dispositions.
    """

    def setup(self, worker: object) -> None:
        if restore_default_sigterm():
            log.warning(
                "dask worker ignored SIGTERM (inherited); restored the default so Dagster "
                "can stop its compute-log tail processes"
            )


class RunScopedDaskExecutor(DaskExecutor):
    """dagster-dask's executor with run-scoped task keys (see the module docstring)."""

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        import dask.distributed

        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError(
                "dask execution needs a persistent Dagster instance (set DAGSTER_HOME; PostgreSQL "
                "in production) that the dask workers can reach"
            )
        job_name = plan_context.job_name
        if self.cluster_type == "existing":
            cluster = self.cluster_configuration["address"]
        elif self.cluster_type == "local":
            cluster = dask.distributed.LocalCluster(**self.build_dict(job_name))
        else:
            raise dg.DagsterInvariantViolationError(
                f"cluster type {self.cluster_type!r}: start that cluster yourself and pass its "
                "scheduler address as `existing`"
            )
        run_id = plan_context.dagster_run.run_id
        with dask.distributed.Client(cluster) as client:
            client.register_plugin(DefaultStopSignalPlugin(), name=SIGNAL_PLUGIN)
            futures_by_step: dict[str, object] = {}
            futures = []
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    upstream = [
                        futures_by_step[key]
                        for step_input in step.step_inputs
                        for key in step_input.dependency_keys
                    ]
                    future = client.submit(
                        query_on_dask_worker,
                        upstream,
                        plan_context.reconstructable_job,
                        plan_context.dagster_run,
                        plan_context.run_config,
                        [step.key],
                        plan_context.instance.get_ref(),
                        execution_plan.known_state,
                        key=dask_task_key(job_name, step.key, run_id),
                        resources=get_dask_resource_requirements(step.tags),
                        pure=False,
                    )
                    futures.append(future)
                    futures_by_step[step.key] = future
            completed = dask.distributed.as_completed(futures, with_results=True)
            for _, events in iterate_with_context(raise_execution_interrupts, completed):
                yield from events
            if isinstance(cluster, dask.distributed.LocalCluster):
                cluster.close()


@dg.executor(
    name="icecrack_dask", config_schema=DASK_CONFIG, requirements=dg.multiple_process_executor_requirements()
)
def run_scoped_dask_executor(init_context: dg.InitExecutorContext) -> RunScopedDaskExecutor:
    """Each step of a run as a dask task on a ``distributed`` cluster (``existing`` or ``local``)."""
    if DaskExecutor is object:
        raise dg.DagsterInvariantViolationError(
            "the dask executor needs dagster-dask: pip install 'icecrack-assets[production]'"
        )
    ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
    return RunScopedDaskExecutor(cluster_type, cluster_configuration or {})


distributed_season_job = dg.define_asset_job(
    DISTRIBUTED_JOB,
    selection=dg.AssetSelection.assets(*SEASON_ASSETS),
    executor_def=run_scoped_dask_executor,
    description="One region's season with every step on the dask cluster: launch one run per "
    "partition (a backfill) and the despeckling and inference steps of all of them "
    "run in parallel on the cluster's workers.",
    tags={"icecrack/kind": "season", "icecrack/executor": "dask"},
)
