"""Partition writes are safe under concurrent runs of the same partition (issue 15, defect 13).

``@one_writer_per_partition(stage)`` goes between ``@dg.asset`` and the function of every asset
that writes a ``<stage>/<region>/<year>`` folder: the step holds that folder's lock
(:func:`icecrack_assets.locks.folder_lock`) for its whole body, so a second run of the partition
waits for the first and then rewrites the folder from a consistent state. Deployments add a run
tag limit on ``dagster/partition`` (docs/production.md) so queued runs wait in the queue, not in a
worker; the lock is what holds when runs bypass the queue (``execute_in_process``, CLI, tests).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dagster as dg

from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.layout import Stage
from icecrack_assets.locks import folder_lock


def one_writer_per_partition(stage: Stage) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the decorated asset body holding the lock of its partition's ``stage`` folder."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def locked(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
            year, region = year_region_of(context.partition_key)
            folder = kwargs["data"].layout.partition_dir(stage, region, year)
            with folder_lock(folder, on_wait=context.log.info) as waited:
                if waited > 1:
                    context.log.info(f"{folder}: waited {waited:.1f} s for another run of this partition")
                return fn(context, *args, **kwargs)

        return locked

    return decorate
