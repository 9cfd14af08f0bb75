"""PPB's parameters as a function of the number of looks L: the one place the rule lives.

The reference defaults (Deledalle's ``ppb_nakagami.m``: hW=10, hD=3, alpha=0.92, T=0.2,
4 iterations) were tuned for single-look data. On multi-look data (Sentinel-1 IW GRDH ~4.4 looks,
EW GRDM ~10.7) the iterative refinement flattens texture and PPB loses to a 7x7 Lee filter, so
the parameters follow L. The table comes from ``benchmarks/ppb_calibration.py`` (grid over hW, hD,
alpha, T and iterations on calibration images with their own speckle seed; criterion: the worst
margin over the best classical filter); docs/despeckling.md has the run. h itself is always
calibrated against pure speckle at the actual L, as in the reference.

Between calibrated L the row of the nearest calibrated L in log(L) is used (speckle strength
scales with 1/sqrt(L), so distances in log L are the natural ones).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

RULE_VERSION = "ppb-looks-2"  # bump when the table changes: it goes into metadata and fingerprints
GUARD_WINDOW = 7  # window of the residual guard's local statistics
BLEND_WINDOW = 7  # window of the Frost filter mixed into the output by ``blend``


@dataclass(frozen=True)
class PpbParams:
    """One row of the rule: search half-width, patch half-width, h quantile, refinement, iterations,
    the strength of the residual guard after PPB (filters.residual_guard; 0 = plain PPB), and the
    weight of a final blend with a Frost 7x7 estimate of the same intensity (0 = none):
    out = (1 - blend) * guarded PPB + blend * Frost. The two make partly independent errors, so
    the mix beats either where PPB alone cannot hold both flat areas and fine texture (L = 1)."""

    hw: int
    hd: int
    alpha: float
    T: float
    iterations: int
    guard: float = 0.0
    blend: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if math.isinf(self.T):
            d["T"] = "inf"
        if self.blend == 0:  # rows without a blend keep the dicts (and fingerprints) they had before it
            del d["blend"]
        return d


REFERENCE = PpbParams(hw=10, hd=3, alpha=0.92, T=0.2, iterations=4)

# Calibrated L -> parameters (benchmarks/ppb_calibration.py, run 2026-12-01; docs/despeckling.md).
# Small patches (hD 1-2) keep texture; alpha 0.97 lets the similar ones average more; T and the
# number of iterations fall, and the residual guard grows, as L rises and the refinement flattens.
# At L = 1 no plain-PPB setting held both cameraman >= 25 dB and every image >= the classical
# filters with a margin; a quarter of Frost 7x7 in the output holds both by >= 0.3 dB on the
# calibration seeds (stage 3, --fine).
PPB_BY_LOOKS: dict[float, PpbParams] = {
    1.0: PpbParams(hw=9, hd=2, alpha=0.95, T=0.1, iterations=4, guard=0.0, blend=0.25),  # stage 3 (--fine)
    2.0: PpbParams(hw=10, hd=1, alpha=0.97, T=0.2, iterations=4, guard=0.1),
    4.4: PpbParams(hw=10, hd=1, alpha=0.97, T=0.2, iterations=3, guard=0.0),
    10.7: PpbParams(hw=7, hd=1, alpha=0.97, T=0.5, iterations=2, guard=0.1),
    30.0: PpbParams(hw=10, hd=2, alpha=0.92, T=math.inf, iterations=1, guard=1.0),
}


def params_for_looks(looks: float) -> PpbParams:
    """The calibrated row nearest to ``looks`` in log(L)."""
    if not (math.isfinite(looks) and looks > 0):
        raise ValueError(f"looks must be a positive number, got {looks}")
    nearest = min(PPB_BY_LOOKS, key=lambda L: (abs(math.log(looks / L)), L))
    return PPB_BY_LOOKS[nearest]
