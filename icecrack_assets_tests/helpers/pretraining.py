"""A streaming-training configuration small enough for a test (seconds, not minutes)."""

from __future__ import annotations

from typing import Any


def tiny_pretrain(max_steps: int, operating_tiles: int = 2, mix_extra: dict | None = None, **settings: Any):
    """A one-level U-Net on 32-px crops of 64² simulator tiles, drawn in the training process."""
    from icecrack_assets.ml.multisource import MixConfig
    from icecrack_assets.ml.pretrain import PretrainConfig

    mix = MixConfig(weights={"simulator": 1.0}, tile=64, patch=32, crops_per_tile=2, **(mix_extra or {}))
    base: dict[str, Any] = dict(
        minutes=5.0,
        max_steps=max_steps,
        batch_size=4,
        depth=1,
        width=4,
        val_tiles=2,
        operating_tiles=operating_tiles,
        workers=0,
        mix=mix,
    )
    return PretrainConfig(**{**base, **settings})
