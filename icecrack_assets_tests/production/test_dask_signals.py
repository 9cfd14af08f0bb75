"""Step log capture on dask workers that inherited an ignored SIGTERM (see DefaultStopSignalPlugin).

A process started in the background by a non-interactive shell ignores SIGINT; after any Dagster
in-process run it also ignores SIGTERM (Dagster copies SIGINT's handler onto SIGTERM), and dask
workers it starts inherit that. The test builds such workers on purpose, runs one step on them
with the local compute-log manager, and checks Dagster could stop the step's ``tail -F`` children.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from icecrack_assets.dagster_defs.executors import restore_default_sigterm, run_scoped_dask_executor

pytestmark = [pytest.mark.distributed]


@dg.op
def chatty() -> int:
    print("to stdout, mirrored by tail -F")
    return os.getpid()


@dg.job(executor_def=run_scoped_dask_executor)
def chatty_job() -> None:
    chatty()


def tails_reading(folder: Path) -> list[int]:
    """Pids of live ``tail`` processes whose command line names a file under ``folder``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = next(
                line for line in (entry / "status").read_text().splitlines() if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue
        if argv and argv[0] == b"tail" and str(folder).encode() in b" ".join(argv) and "Z" not in state:
            pids.append(int(entry.name))
    return pids


def sigterm_disposition() -> str:
    """This process's SIGTERM handler, as text (run on the workers)."""
    return str(signal.getsignal(signal.SIGTERM))


def test_restore_default_sigterm_only_acts_on_ignored_sigterm():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert restore_default_sigterm() is True
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert restore_default_sigterm() is False  # already default: nothing to do
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_workers_that_inherited_ignored_sigterm_still_stop_compute_log_tails(tmp_path):
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc to see the tail processes")
    distributed = pytest.importorskip("distributed")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what the worker processes inherit
    try:
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        with cluster, distributed.Client(cluster) as client:
            assert set(client.run(sigterm_disposition).values()) == {str(signal.SIG_IGN)}
            run_config = {
                "execution": {"config": {"cluster": {"existing": {"address": cluster.scheduler_address}}}}
            }
            with dg.DagsterInstance.from_config(str(home)) as instance:
                with dg.execute_job(
                    dg.reconstructable(chatty_job), instance=instance, run_config=run_config
                ) as result:
                    assert result.success
                    worker_pid = result.output_for_node("chatty")
            assert worker_pid in client.run(os.getpid).values()  # the step ran on the worker
            deadline = time.monotonic() + 5
            while tails_reading(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert tails_reading(tmp_path) == []  # Dagster stopped both of the step's tails
            assert set(client.run(sigterm_disposition).values()) == {str(signal.SIG_DFL)}
    finally:
        for pid in tails_reading(tmp_path):  # leaked ones (only without the fix)
            os.kill(pid, signal.SIGKILL)
