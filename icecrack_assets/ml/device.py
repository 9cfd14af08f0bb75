"""CPU by default, CUDA when present: one place that decides where tensors live."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import torch

from icecrack_assets.errors import IceCrackError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; an explicit unavailable device is a user error."""
    if device in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise IceCrackError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise IceCrackError(f"unknown device {device!r}; use auto, cpu or cuda") from None


def cpu_budget(default: int = 2) -> int:
    """The cores IceCrack may keep busy: ICECRACK_THREADS, else ``default``."""
    return max(1, int(os.environ.get("ICECRACK_THREADS", default)))


def set_threads(default: int = 2, threads: int | None = None) -> int:
    """Limit torch's CPU threads (ICECRACK_THREADS overrides) so shared machines stay responsive;
    ``threads`` (a share of that budget) when given."""
    torch.set_num_threads(threads if threads is not None else cpu_budget(default))
    return torch.get_num_threads()


def adamw(
    params: Iterable[torch.nn.Parameter], lr: float, device: torch.device, weight_decay: float = 1e-4
) -> torch.optim.AdamW:
    """AdamW with the fused kernel on CPU and CUDA: one kernel for all parameters instead of a
    Python loop of small ops per tensor (on the demo's fine-tune, 14 -> 3 ms of ~130 ms per step)."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


PRECISIONS = ("auto", "float32", "bfloat16")


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether the hardware multiplies bfloat16 natively: CUDA that supports it, or a CPU with AMX
    or AVX-512 BF16. Elsewhere bfloat16 is emulated and slower than float32."""
    if device.type == "cuda":  # native only: by default torch also counts emulation (pre-Ampere GPUs)
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type != "cpu":
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def training_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast type of training's forward pass, or None for plain float32.

    ``auto`` takes bfloat16 where the hardware runs it natively: on the Intel VM (AMX) a training
    step of the default architecture takes half the time (docs/model.md, "Mixed precision");
    weights, optimiser state and the loss stay float32.
    """
    if precision not in PRECISIONS:
        raise IceCrackError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "float32" or (precision == "auto" and not bfloat16_is_fast(device)):
        return None
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[object]:
    """``torch.autocast`` for ``dtype`` on ``device``; nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def training_layout(device: torch.device, dtype: torch.dtype | None) -> tuple[int, int]:
    """(torch threads, data-drawing worker processes) for streaming training on ``cpu_budget()`` cores.

    Drawing a batch from the simulator takes ~160 ms of one core; a training step of the default
    architecture ~290 core-ms in float32 and ~150 in bfloat16 (the Intel VM, docs/model.md). In
    float32 the step dominates: every core computes and one worker draws beside it. In bfloat16 the
    drawing would starve the step, so workers get every core and the step half of them (on two
    cores 0.169 s a step against 0.197 with one worker and 0.237 for float32). On CUDA the CPU only
    draws.
    """
    cores = cpu_budget()
    if device.type != "cpu":
        return 1, cores
    if dtype is None:
        return cores, max(1, cores // 3)
    return max(1, cores // 2), cores
