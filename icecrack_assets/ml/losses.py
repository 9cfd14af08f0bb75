"""BCE + soft Dice: BCE keeps per-pixel calibration, Dice counters the rarity of thin crack pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    dice_weight: float = 1.0,
    pos_weight: float = 3.0,
) -> torch.Tensor:
    """Loss over valid pixels only (label 255 masked out); ``pos_weight`` up-weights crack pixels."""
    v = valid.float()
    t = target.float()
    pw = torch.tensor(pos_weight, device=logits.device)
    bce = F.binary_cross_entropy_with_logits(logits, t, pos_weight=pw, reduction="none")
    bce = (bce * v).sum() / v.sum().clamp_min(1.0)
    p = torch.sigmoid(logits) * v
    inter = (p * t).sum()
    dice = 1.0 - (2 * inter + 1.0) / (p.sum() + (t * v).sum() + 1.0)
    return bce + dice_weight * dice
