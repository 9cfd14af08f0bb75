"""The randomised crevasse simulator: the crack model's training source.

A scene's *style* (``SceneStyle``) holds every parameter that defines its look, sampled per scene
(background, hard negatives, sensor) and per crevasse family (geometry, radiometry) from wide,
documented ranges (docs/simulator.md), so a model cannot lean on any one of them. The *seed* then
places things and draws per-crack values inside the style's ranges: the same (style, shape, seed)
always gives a bit-identical scene. Today's region renderer (``scenes.simulate_scene``) is the
"legacy" family.

Truth: 1 where crack bands cover >= half a pixel and the crack is at least ``faint_threshold_db(ENL)``
(1 dB, more for products under 6 looks) strong there;
255 (unknown) for partly covered pixels, sub-threshold faint (snow-bridged) cracks, narrow rift tips
and nodata; 0 elsewhere, including every hard negative.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from icecrack_assets.errors import IceCrackError
from icecrack_assets.simulator import random_background as rb
from icecrack_assets.simulator import random_sensor as rs
from icecrack_assets.simulator.random_cracks import empty_layer, faint_threshold_db, family_sets, render_set

RANDOM_SIMULATOR_VERSION = "1.1"  # 1.1: dunes ("ripples") 0.5-5 km apart, not 2.5-15 px
TRUTH_UNKNOWN = 255

CRACK_FAMILIES = (
    "transverse",
    "longitudinal",
    "crossing",
    "chevron",
    "splaying",
    "en-echelon",
    "marginal",
    "rift-tip",
    "dense-field",
)
FAMILIES: tuple[str, ...] = ("legacy", *CRACK_FAMILIES)
RADIOMETRY = ("lit-far", "lit-near", "bright", "dark")
# how often each is drawn; a training mix may weight them otherwise (MixConfig.radiometry)
RADIOMETRY_P: tuple[float, ...] = (0.45, 0.15, 0.2, 0.2)
FAINT_FAMILY_SHARE = 0.12  # families whose contrast centre is 0.6-1.5 dB (else 1.5-8 dB)

# per-family geometry ranges: spacing (px, log-uniform), segment length (px, log-uniform),
# presence (fraction of each trace drawn), family angle (deg; chevron/marginal/crossing/en-echelon)
_GEOMETRY = {
    "transverse": dict(spacing=(6.0, 120.0), length=(15.0, 300.0), presence=(0.3, 0.9), angle=(0.0, 0.0)),
    "longitudinal": dict(spacing=(6.0, 120.0), length=(15.0, 300.0), presence=(0.3, 0.9), angle=(0.0, 0.0)),
    "crossing": dict(spacing=(8.0, 50.0), length=(15.0, 200.0), presence=(0.4, 0.9), angle=(35.0, 90.0)),
    "chevron": dict(spacing=(8.0, 50.0), length=(20.0, 300.0), presence=(0.4, 0.9), angle=(25.0, 60.0)),
    "splaying": dict(spacing=(8.0, 40.0), length=(20.0, 300.0), presence=(0.4, 0.9), angle=(0.0, 0.0)),
    "en-echelon": dict(spacing=(4.0, 16.0), length=(40.0, 300.0), presence=(0.7, 1.0), angle=(20.0, 50.0)),
    "marginal": dict(spacing=(6.0, 40.0), length=(20.0, 300.0), presence=(0.4, 0.9), angle=(30.0, 60.0)),
    "rift-tip": dict(spacing=(5.0, 25.0), length=(10.0, 120.0), presence=(0.5, 0.95), angle=(0.0, 0.0)),
    "dense-field": dict(spacing=(2.0, 6.0), length=(6.0, 80.0), presence=(0.5, 0.95), angle=(0.0, 0.0)),
}


@dataclass(frozen=True)
class CrackFamilyStyle:
    """Geometry and radiometry of one crevasse family in a scene."""

    family: str
    flow_deg: float  # orientation of the family's frame (deg from image columns towards rows)
    angle_deg: float  # family angle: chevron / marginal angle to flow, crossing angle, en-echelon obliquity
    spacing_px: float  # distance between neighbouring traces
    length_px: float  # mean crack (segment) length
    presence: float  # fraction of each trace that is cracked
    curvature: float  # 0 straight .. 1 curved (large-scale bending, arcs)
    roughness: float  # small-scale wiggle of each trace, as a fraction of the spacing
    width_px: tuple[float, float]  # opening width range (sub-pixel widths are anti-aliased)
    wall_px: float  # width of the radar-facing wall band
    cover: float  # approximate fraction of the window in the family's zones
    radiometry: str  # "lit-far" | "lit-near" (wall + shadow), "bright" | "dark" (one band)
    contrast_db: tuple[float, float]  # per-crack peak contrast range before orientation fading
    shadow_ratio: float  # shadow depth / wall brightness for the two-band modes
    bridged_fraction: float  # share of traces that are faint snow-bridged cracks (0.3-1.2 dB, dark)
    field_db: float  # how much brighter the crevasse zone is than the ice around it


@dataclass(frozen=True)
class BackgroundStyle:
    surface: str  # one of random_background.SURFACES
    level_db: float
    texture_db: float
    texture_scales_px: tuple[float, float, float]  # coarse, middle, fine correlation lengths
    texture_decay: float
    second_surface: str | None  # a second surface behind a wandering boundary (snow line)
    boundary_px: float
    hard_negatives: tuple[str, ...]  # subset of random_background.HARD_NEGATIVES
    # uncracked bright, rough zones this much brighter (dB; 0 = none). Not sampled here: the
    # training mix sets it (MixConfig.bright_zones), so styles drawn without it stay as they were
    bright_zone_db: float = 0.0


@dataclass(frozen=True)
class SensorStyle:
    pixel_size: float  # metres
    looks: float  # equivalent number of looks of one acquisition
    composite: int  # acquisitions averaged (1 = a single scene); product ENL = looks * composite
    correlation_px: float  # Gaussian smoothing of the complex speckle field (0 = uncorrelated)
    look_deg: float  # range direction (away from the radar), deg from image columns towards rows
    visibility_floor: float  # crack contrast factor when the trace runs along range (1 = no fading)
    calibration_db: float
    incidence_db: float  # level change from near to far range across the window
    seams: tuple[float, ...]  # EW sub-swath seam positions along range (0..1)
    seam_steps_db: tuple[float, ...]
    nesz_db: float | None  # residual thermal noise level (None = none)
    noise_error: float  # relative error of the subtracted noise estimate
    nodata_edge: float | None  # swath edge position along range (None = no nodata)
    nodata_far: bool

    @property
    def enl(self) -> float:
        return float(self.looks * self.composite)

    @property
    def look(self) -> tuple[float, float]:
        a = math.radians(self.look_deg)
        return math.cos(a), math.sin(a)


@dataclass(frozen=True)
class LegacyStyle:
    """Parameters of a scene from today's region renderer (``scenes.simulate_scene``)."""

    region: str
    acquired: str  # ISO time inside the region's season
    looks: float | None  # None = the mode's ENL
    correlated: bool


@dataclass(frozen=True)
class SceneStyle:
    """Every sampled parameter of one scene; ``family`` is its main crevasse family."""

    family: str
    cracks: tuple[CrackFamilyStyle, ...]
    background: BackgroundStyle | None
    sensor: SensorStyle
    legacy: LegacyStyle | None = None
    version: str = RANDOM_SIMULATOR_VERSION

    @property
    def families(self) -> tuple[str, ...]:
        """Every family drawn in the scene (main first)."""
        return (self.family,) if self.legacy else tuple(c.family for c in self.cracks)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SceneStyle:
        def tup(x):
            return tuple(x) if isinstance(x, list) else x

        cracks = tuple(CrackFamilyStyle(**{k: tup(v) for k, v in c.items()}) for c in d["cracks"])
        bg = d.get("background")
        background = BackgroundStyle(**{k: tup(v) for k, v in bg.items()}) if bg else None
        sensor = SensorStyle(**{k: tup(v) for k, v in d["sensor"].items()})
        legacy = LegacyStyle(**d["legacy"]) if d.get("legacy") else None
        return cls(
            d["family"], cracks, background, sensor, legacy, d.get("version", RANDOM_SIMULATOR_VERSION)
        )


@dataclass(frozen=True)
class RandomScene:
    """One randomised scene: linear sigma0 (NaN = nodata) and truth (1 crack, 0 not, 255 unknown)."""

    sigma0: np.ndarray
    truth: np.ndarray
    pixel_size: float
    looks: float  # equivalent number of looks of the product (composites included)
    style: SceneStyle
    clean: np.ndarray | None = field(default=None, repr=False)  # sigma0 without speckle / thermal noise
    classes: np.ndarray | None = field(default=None, repr=False)  # random_background class codes
    zone: np.ndarray | None = field(default=None, repr=False)  # 0..1 crevasse-zone strength


# ------------------------------------------------------------------------------------------ sampling
def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _allowed(families: Sequence[str] | None, exclude: Sequence[str]) -> tuple[str, ...]:
    pool = tuple(families) if families else FAMILIES
    unknown = sorted((set(pool) | set(exclude)) - set(FAMILIES))
    if unknown:
        raise IceCrackError(f"unknown simulator families {unknown}; known: {', '.join(FAMILIES)}")
    allowed = tuple(f for f in pool if f not in set(exclude))
    if not allowed:
        raise IceCrackError(
            f"no simulator family left to draw from {list(pool)} after excluding {list(exclude)}"
        )
    return allowed


def radiometry_weights(p: Sequence[float] | None) -> tuple[float, ...]:
    """``p`` (one weight per :data:`RADIOMETRY` mode, any positive scale) as probabilities."""
    if p is None:
        return RADIOMETRY_P
    w = tuple(float(v) for v in p)
    if len(w) != len(RADIOMETRY) or any(not math.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
        raise IceCrackError(
            f"radiometry weights must be {len(RADIOMETRY)} non-negative numbers for "
            f"{', '.join(RADIOMETRY)} with a positive sum, got {list(p)!r}"
        )
    return tuple(v / sum(w) for v in w)


def sample_family(
    rng: np.random.Generator, family: str, radiometry_p: Sequence[float] | None = None
) -> CrackFamilyStyle:
    """Geometry and radiometry of one crevasse family, from the documented ranges."""
    g = _GEOMETRY[family]
    spacing = _log_uniform(rng, *g["spacing"])
    dense = family == "dense-field"
    w_lo = _log_uniform(rng, 0.5, 1.2 if dense else 4.0)
    w_hi = min(1.6 if dense else 6.0, w_lo * rng.uniform(1.0, 2.5))
    radiometry = str(rng.choice(RADIOMETRY, p=list(radiometry_weights(radiometry_p))))
    if rng.random() < FAINT_FAMILY_SHARE:  # a faint family: mostly under the visibility threshold
        centre = _log_uniform(rng, 0.6, 1.5)
    else:
        centre = _log_uniform(rng, 1.5, 5.0 if dense else 8.0)
    contrast = (max(0.5, centre / rng.uniform(1.1, 1.6)), min(10.0, centre * rng.uniform(1.1, 1.6)))
    return CrackFamilyStyle(
        family=family,
        flow_deg=float(rng.uniform(0.0, 360.0)),
        angle_deg=float(rng.uniform(*g["angle"])) * (1.0 if rng.random() < 0.5 else -1.0),
        spacing_px=spacing,
        length_px=_log_uniform(rng, *g["length"]),
        presence=float(rng.uniform(*g["presence"])),
        curvature=float(rng.uniform(0.0, 1.0)),
        roughness=float(rng.uniform(0.1, 0.4) if dense else rng.uniform(0.02, 0.3)),
        width_px=(w_lo, w_hi),
        wall_px=float(rng.uniform(0.5, 1.2 if dense else 2.5)),
        cover=float(rng.uniform(0.2, 0.6)),
        radiometry=radiometry,
        contrast_db=contrast,
        shadow_ratio=float(rng.uniform(0.5, 1.0)),
        bridged_fraction=float(rng.uniform(0.0, 0.3)) if rng.random() < 0.5 else 0.0,
        field_db=float(rng.uniform(1.0, 4.0) if dense else rng.uniform(0.0, 3.0)),
    )


def sample_background(rng: np.random.Generator, *, rift: bool = False) -> BackgroundStyle:
    surfaces = tuple(rb.SURFACES)
    surface = str(rng.choice(surfaces))
    (l_lo, l_hi), (t_lo, t_hi) = rb.SURFACES[surface]
    second = str(rng.choice([s for s in surfaces if s != surface])) if rng.random() < 0.35 else None
    negs = [h for h in rb.HARD_NEGATIVES if h not in ("icebergs", "rift") and rng.random() < 0.35]
    if "front" in negs and rng.random() < 0.6:
        negs.append("icebergs")
    if rift or rng.random() < 0.12:
        negs.append("rift")
    return BackgroundStyle(
        surface=surface,
        level_db=float(rng.uniform(l_lo, l_hi)),
        texture_db=float(rng.uniform(t_lo, t_hi)),
        texture_scales_px=(
            float(rng.uniform(60, 300)),
            float(rng.uniform(10, 40)),
            float(rng.uniform(1.5, 6)),
        ),
        texture_decay=float(rng.uniform(0.4, 0.9)),
        second_surface=second,
        boundary_px=float(rng.uniform(2.0, 30.0)),
        hard_negatives=tuple(h for h in rb.HARD_NEGATIVES if h in negs),
    )


def sample_sensor(rng: np.random.Generator) -> SensorStyle:
    seams: tuple[float, ...] = ()
    if rng.random() < 0.3:  # EW sub-swath seams cross the window
        seams = tuple(sorted(float(x) for x in rng.uniform(0.15, 0.85, int(rng.integers(1, 3)))))
    noisy = rng.random() < 0.6
    edge = rng.random() < 0.2
    return SensorStyle(
        pixel_size=_log_uniform(rng, 10.0, 50.0),
        looks=_log_uniform(rng, 1.0, 20.0),
        composite=1 if rng.random() < 0.75 else int(rng.integers(2, 13)),
        correlation_px=0.0 if rng.random() < 0.5 else float(rng.uniform(0.5, 1.2)),
        look_deg=float(rng.uniform(0.0, 360.0)),
        visibility_floor=float(rng.uniform(0.3, 1.0)),
        calibration_db=float(rng.uniform(-3.0, 3.0)),
        incidence_db=float(rng.uniform(-2.5, 0.5)),
        seams=seams,
        seam_steps_db=tuple(float(x) for x in rng.uniform(-1.5, 1.5, len(seams))),
        nesz_db=float(rng.uniform(-32.0, -20.0)) if noisy else None,
        noise_error=float(rng.uniform(-0.3, 0.3)),
        nodata_edge=float(rng.uniform(0.7, 0.95)) if edge else None,
        nodata_far=bool(rng.random() < 0.5),
    )


def _sample_legacy(rng: np.random.Generator) -> SceneStyle:
    from icecrack_assets.regions import REGIONS

    name = sorted(REGIONS)[int(rng.integers(len(REGIONS)))]
    region = REGIONS[name]
    year = int(rng.integers(2017, 2024))
    start, end = region.season(year)
    when = (start + (end - start) * float(rng.uniform(0.02, 0.98))).replace(microsecond=0)
    looks = _log_uniform(rng, 1.0, 20.0) if rng.random() < 0.5 else None
    correlated = bool(rng.random() < 0.5)
    sensor = SensorStyle(
        pixel_size=float(region.pixel_size),
        looks=float(region.looks if looks is None else looks),
        composite=1,
        correlation_px=0.8 if correlated else 0.0,
        look_deg=0.0,  # drawn by the legacy renderer from the pass
        visibility_floor=0.35,
        calibration_db=0.0,
        incidence_db=0.0,
        seams=(),
        seam_steps_db=(),
        nesz_db=None,
        noise_error=0.0,
        nodata_edge=None,
        nodata_far=False,
    )
    legacy = LegacyStyle(name, when.isoformat(), looks, correlated)
    return SceneStyle("legacy", (), None, sensor, legacy)


def sample_style(
    rng: np.random.Generator,
    *,
    families: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    radiometry_p: Sequence[float] | None = None,
) -> SceneStyle:
    """Draw a scene style: a main family from ``families`` (default all) minus ``exclude``, sometimes a
    second crevasse family (also allowed), a background with hard negatives, and a sensor.
    ``radiometry_p`` weights the crack radiometries (default :data:`RADIOMETRY_P`)."""
    allowed = _allowed(families, exclude)
    radiometry_weights(radiometry_p)  # a bad weighting fails before anything is drawn
    main = str(allowed[int(rng.integers(len(allowed)))])
    if main == "legacy":
        return _sample_legacy(rng)
    cracks = [sample_family(rng, main, radiometry_p)]
    others = [f for f in allowed if f not in ("legacy", main)]
    if others and rng.random() < 0.35:
        cracks.append(sample_family(rng, str(others[int(rng.integers(len(others)))]), radiometry_p))
    return SceneStyle(main, tuple(cracks), sample_background(rng), sample_sensor(rng))


# ----------------------------------------------------------------------------------------- rendering
def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise IceCrackError(f"shape must be two integers (height, width), got {shape!r}") from None
    if h < 16 or w < 16:
        raise IceCrackError(f"shape {h}x{w} is too small; each side needs at least 16 pixels")
    return h, w


def render_scene(style: SceneStyle, shape: tuple[int, int], seed: int) -> RandomScene:
    """Render ``style`` on a ``shape`` window; the same (style, shape, seed) gives the same scene."""
    shape = _check_shape(shape)
    if seed < 0:
        raise IceCrackError(f"seed must be a non-negative integer, got {seed}")
    if style.legacy is not None:
        return _render_legacy(style, style.legacy, shape, int(seed))
    if style.background is None:
        raise IceCrackError("a non-legacy scene style needs a background")
    ss = np.random.SeedSequence([int(seed), 13])
    r_bg, r_trend, r_speckle, r_noise, *r_fam = (
        np.random.default_rng(s) for s in ss.spawn(4 + 2 * len(style.cracks))
    )
    se = style.sensor
    look = se.look
    tip = any(c.family == "rift-tip" for c in style.cracks)
    bg = rb.render_background(style.background, look, shape, r_bg, tip, se.pixel_size)
    allowed = bg.classes == rb.BACKGROUND
    layer = empty_layer(shape)
    faint = faint_threshold_db(se.enl)
    zone = np.zeros(shape, np.float32)
    field_db = np.zeros(shape, np.float32)
    for i, st in enumerate(style.cracks):
        sets = family_sets(st, shape, r_fam[2 * i], bg.rift_tip)
        for cs in sets:
            z = np.clip(cs.zone, 0.0, 1.0) * allowed
            np.maximum(zone, z, out=zone)
            np.maximum(field_db, z * np.float32(st.field_db), out=field_db)
            render_set(cs, st, r_fam[2 * i + 1], look, se.visibility_floor, faint, allowed, layer)
    db = bg.db + field_db
    db = rs.radiometric_trends(db, se, look, r_trend)
    clean = (np.power(10.0, db / 10.0) * layer.factor).astype(np.float32)
    sigma0 = clean * rs.speckle(se, shape, r_speckle) + rs.thermal_residual(se, look, shape, r_noise)
    sigma0 = np.maximum(sigma0, rs.MIN_SIGMA0).astype(np.float32)
    truth = np.zeros(shape, np.uint8)
    truth[layer.unknown] = TRUTH_UNKNOWN
    truth[layer.strong] = 1
    truth[~allowed] = 0
    truth[bg.classes == rb.RIFT_TIP] = TRUTH_UNKNOWN
    nodata = rs.swath_edge(se, look, shape)
    classes = bg.classes.copy()
    classes[nodata] = rb.NODATA_CLASS
    sigma0[nodata] = np.nan
    clean[nodata] = np.nan
    truth[nodata] = TRUTH_UNKNOWN
    return RandomScene(sigma0, truth, se.pixel_size, se.enl, style, clean, classes, zone)


def _render_legacy(style: SceneStyle, lg: LegacyStyle, shape: tuple[int, int], seed: int) -> RandomScene:
    from icecrack_assets.regions import get_region
    from icecrack_assets.simulator import layout as lay
    from icecrack_assets.simulator.scenes import simulate_scene

    region = get_region(lg.region)
    h = min(shape[0], region.height)
    w = min(shape[1], region.width)
    if (h, w) != shape:
        raise IceCrackError(
            f"legacy scenes of {lg.region} are at most {region.height}x{region.width}, got {shape}"
        )
    sc = simulate_scene(
        region,
        dt.datetime.fromisoformat(lg.acquired),
        seed,
        shape=shape,
        looks=lg.looks,
        correlated=lg.correlated,
    )
    table = np.full(256, rb.BACKGROUND, np.uint8)
    for src, dst in (
        (lay.NODATA, rb.NODATA_CLASS),
        (lay.ROCK, rb.ROCK),
        (lay.WATER, rb.WATER),
        (lay.SEA_ICE, rb.MELANGE),
        (lay.RIFT, rb.RIFT),
        (lay.STREAM, rb.STREAM),
        (lay.ICEBERG, rb.ICEBERG),
        (lay.CLIFF, rb.CLIFF),
    ):
        table[src] = dst
    classes = table[sc.classes] if sc.classes is not None else None
    return RandomScene(
        sc.intensity,
        sc.truth,
        float(region.pixel_size),
        float(sc.looks),
        style,
        sc.clean,
        classes,
        sc.crevasse_zone,
    )
