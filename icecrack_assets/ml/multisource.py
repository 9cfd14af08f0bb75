"""Multi-source training tiles: randomised simulator scenes and speckled Lai tiles, mixed.

The simulator gives pixel-exact truth in many styles; Lai et al. 2020 gives real fracture
geometry (hand-drawn on optical MODIS, turned into SAR-like intensity with gamma speckle). One
training run draws from both with fixed probabilities (``MixConfig.weights``). Every tile then
goes through the same augmentation, all of it in dB where calibration lives:

- a random dB gain (contrast x0.7-1.4) and offset (+-3 dB), sometimes 8-bit quantisation of the
  dB values (products delivered as scaled dB and converted back to linear);
- random resampling (x0.5-2, area-weighted when shrinking), which changes the crack width in
  pixels and the speckle's looks and correlation; the truth follows by area fraction, and pixels
  that are only partly crack become 255 (ignored by the loss), never a guess;
- the eight flips/rotations.

Scene statistics for the robust normalisation come from the whole drawn tile, as inference takes
them from the whole scene, and patches are cropped from it afterwards. The four real Sentinel-1
tiles of suite d are not drawn here: their labels are field-level, not pixel truth, and enter only
through ``weak.py`` (stage 2 of the default model).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.augment import dihedral, random_convolution
from icecrack_assets.ml.normalise import ROBUST_NORMALISATION, normalise, scene_stats

IGNORE = 255


@dataclass(frozen=True)
class TrainTile:
    """One drawn tile before cropping: linear sigma0 (NaN nodata) and truth (1/0/255)."""

    sigma0: np.ndarray
    truth: np.ndarray
    source: str  # "simulator" | "lai"
    family: str  # the simulator style family, or "lai"
    looks: float


@dataclass(frozen=True)
class MixConfig:
    """What one training draw looks like; stored in the bundle's lineage."""

    weights: dict = field(default_factory=lambda: {"simulator": 0.7, "lai": 0.3})
    tile: int = 256  # side of a drawn scene (statistics come from all of it)
    patch: int = 128  # side of a training patch cropped from it
    crops_per_tile: int = 4
    gain: tuple[float, float] = (0.7, 1.4)  # dB contrast factor about the median
    offset_db: tuple[float, float] = (-3.0, 3.0)
    quantise_prob: float = 0.15  # 8-bit dB products
    resample_prob: float = 0.4
    zoom: tuple[float, float] = (0.5, 2.0)
    lai_looks: tuple[float, float] = (1.0, 20.0)
    families: tuple[str, ...] | None = None  # simulator families drawn (None = all)
    exclude: tuple[str, ...] = ()  # simulator families never drawn (suite c holds them out)
    # weights of the crack radiometries (lit-far, lit-near, bright, dark); None = the simulator's own
    radiometry: tuple[float, ...] | None = None
    # probability that a training crop's normalised input is negated (its dB mirrored about the
    # scene median: dark cracks show as bright ones, wall + shadow swaps order; labels unchanged);
    # drawn from its own generator, so 0 leaves every other draw as it was
    polarity_flip: float = 0.0
    # probability that a simulated scene also holds uncracked bright, rough zones (1-4 dB brighter;
    # simulator/random_background.py), decided from the scene's own seed, so 0 leaves every other
    # draw as it was
    bright_zones: float = 0.0
    # probability that a training crop's normalised input goes through a random convolution
    # (augment.random_convolution, RandConv): from its own generator, so 0 leaves every other
    # draw as it was
    random_conv: float = 0.0
    despeckle: str = "none"  # the model's input filter, applied to every drawn tile with its looks

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


# ------------------------------------------------------------------------------------ sources
def _randomised():
    """The randomised simulator module, or None while it is not available."""
    try:
        from icecrack_assets.simulator import randomised
    except ImportError:
        return None
    return randomised


class SimulatorSource:
    """Scenes of the randomised simulator (the legacy renderer when that module is absent)."""

    name = "simulator"

    def __init__(
        self,
        families: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        radiometry: Sequence[float] | None = None,
        bright_zones: float = 0.0,
    ) -> None:
        self.families = tuple(families) if families else None
        self.bright_zones = bright_zones
        self.exclude = tuple(exclude)
        self.radiometry = tuple(radiometry) if radiometry is not None else None
        self.module = _randomised()

    def draw(self, rng: np.random.Generator, size: int) -> TrainTile:
        seed = int(rng.integers(0, 2**31 - 1))
        if self.module is not None:
            style = self.module.sample_style(
                rng, families=self.families, exclude=self.exclude, radiometry_p=self.radiometry
            )
            style = self._with_bright_zones(style, seed)
            sc = self.module.render_scene(style, (size, size), seed)
            return TrainTile(sc.sigma0, sc.truth, self.name, style.family, float(sc.looks))
        return _legacy_tile(rng, size, seed)

    def _with_bright_zones(self, style, seed: int):
        """``style`` with uncracked bright zones in a ``bright_zones`` share of scenes (legacy
        scenes have no background style and stay as they are)."""
        if self.bright_zones <= 0 or style.background is None:
            return style
        aux = np.random.default_rng([seed, zlib.crc32(b"bright-zone")])
        if aux.random() >= self.bright_zones:
            return style
        return replace(
            style, background=replace(style.background, bright_zone_db=float(aux.uniform(1.0, 4.0)))
        )


def _legacy_tile(rng: np.random.Generator, size: int, seed: int) -> TrainTile:

    from icecrack_assets.regions import REGIONS
    from icecrack_assets.simulator.scenes import simulate_scene

    region = REGIONS[sorted(REGIONS)[int(rng.integers(len(REGIONS)))]]
    year = int(rng.integers(2017, 2024))
    start, end = region.season(year)
    when = start + (end - start) * float(rng.uniform(0.05, 0.95))
    # a random window of the region's grid: simulate a larger top-left block and crop from it
    big = min(region.height, region.width, int(size * 1.5))
    sc = simulate_scene(region, when, seed % 1000, shape=(big, big), looks=float(rng.uniform(1.0, 15.0)))
    r0, c0 = (int(rng.integers(0, big - size + 1)) for _ in range(2))
    win = np.s_[r0 : r0 + size, c0 : c0 + size]
    return TrainTile(sc.intensity[win], sc.truth[win], "simulator", "legacy", float(sc.looks))


class LaiSource:
    """Speckled Lai et al. 2020 tiles of one split, read in place (never copied; GPL)."""

    name = "lai"

    def __init__(self, root: Path, split: str = "train") -> None:
        from icecrack_assets.ml.evaluation.lai import lai_tiles, load_tile

        self.tiles = [load_tile(t) for t in lai_tiles(Path(root), split)]
        self.names = [t.name for t in lai_tiles(Path(root), split)]

    def draw(
        self, rng: np.random.Generator, size: int, looks: tuple[float, float] = (1.0, 20.0)
    ) -> TrainTile:
        clean, truth = self.tiles[int(rng.integers(len(self.tiles)))]
        h, w = clean.shape
        r0, c0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        c = clean[r0 : r0 + size, c0 : c0 + size]
        t = truth[r0 : r0 + size, c0 : c0 + size]
        n = float(np.exp(rng.uniform(np.log(looks[0]), np.log(looks[1]))))
        from icecrack_assets.simulator.speckle import gamma_speckle

        s = c * gamma_speckle(rng, c.shape, n, correlated=bool(rng.random() < 0.5))
        return TrainTile(s.astype(np.float32), t, self.name, "lai", n)


# ------------------------------------------------------------------------------- augmentation
def resample_tile(sigma0: np.ndarray, truth: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample by ``zoom`` (area-weighted when shrinking); truth by area fraction, mixed pixels 255."""
    valid = np.isfinite(sigma0)
    filled = np.where(valid, sigma0, 0.0).astype(np.float32)
    crack = (truth == 1).astype(np.float32)
    known = (truth != IGNORE) & valid
    if zoom < 1:
        s = 0.5 / zoom  # anti-alias: average over the footprint of an output pixel
        filled = ndimage.uniform_filter(filled, size=int(round(1 / zoom)) or 1)
        crack = ndimage.gaussian_filter(crack, s * 0.5)
    out = ndimage.zoom(filled, zoom, order=1)
    frac = ndimage.zoom(crack, zoom, order=1)
    ok = ndimage.zoom(known.astype(np.float32), zoom, order=1) > 0.99
    vok = ndimage.zoom(valid.astype(np.float32), zoom, order=0) > 0.5
    t = np.full(out.shape, IGNORE, np.uint8)
    t[ok & (frac < 0.2)] = 0
    t[ok & (frac >= 0.5)] = 1
    out = np.where(vok & (out > 0), out, np.nan).astype(np.float32)
    t[~vok] = IGNORE
    return out, t


def radiometric(sigma0: np.ndarray, rng: np.random.Generator, cfg: MixConfig) -> np.ndarray:
    """Random dB gain about the median, dB offset, and sometimes 8-bit dB quantisation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10 * np.log10(sigma0)
    ok = np.isfinite(db)
    if not ok.any():
        return sigma0
    med = float(np.median(db[ok]))
    db = (db - med) * rng.uniform(*cfg.gain) + med + rng.uniform(*cfg.offset_db)
    if rng.random() < cfg.quantise_prob:
        lo, hi = np.percentile(db[ok], [0.5, 99.5]) + np.array([-rng.uniform(0, 5), rng.uniform(0, 5)])
        db = np.round((np.clip(db, lo, hi) - lo) / (hi - lo) * 254) / 254 * (hi - lo) + lo
    return np.where(ok, np.power(10.0, db / 10.0), np.nan).astype(np.float32)


def despeckle_tile(sigma0: np.ndarray, filter_name: str, looks: float) -> np.ndarray:
    """The input filter under test (the SAR core's despeckling with the tile's looks)."""
    from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle

    out = despeckle(
        sigma0, DespeckleSettings(filter=filter_name, looks=float(looks)), valid=np.isfinite(sigma0)
    )
    return np.where(np.isfinite(sigma0), out, np.nan).astype(np.float32)


# ---------------------------------------------------------------------------------- sampler
class MixedSampler:
    """Draws training batches from several sources with fixed mixing probabilities."""

    def __init__(self, sources: dict, cfg: MixConfig, seed: int = 0, norm: dict | None = None) -> None:
        names = [n for n, w in cfg.weights.items() if w > 0]
        missing = [n for n in names if n not in sources]
        if missing:
            raise IceCrackError(f"no source for {missing} in the training mix")
        self.sources = sources
        self.names = names
        p = np.array([cfg.weights[n] for n in names], float)
        self.p = p / p.sum()
        for knob in ("polarity_flip", "bright_zones", "random_conv"):
            value = getattr(cfg, knob)
            if not 0.0 <= value <= 1.0:  # also rejects NaN
                raise IceCrackError(f"{knob} must be a probability in [0, 1], got {value}")
        self.cfg = cfg
        self.norm = norm or dict(ROBUST_NORMALISATION)
        self.rng = np.random.default_rng(seed)
        self.flip_rng = np.random.default_rng([seed, zlib.crc32(b"polarity")])
        self.conv_rng = np.random.default_rng([seed, zlib.crc32(b"random-conv")])
        self.drawn: dict[str, int] = {n: 0 for n in names}
        self.families: dict[str, int] = {}

    def reseed(self, key: Sequence[int]) -> None:
        """Restart every generator from ``key`` (a stream's seed and batch index): batch k then
        depends on k alone, not on what was drawn before it, so a resumed run draws exactly the
        batches the uninterrupted run would have, with any number of loader workers."""
        self.rng = np.random.default_rng(list(key))
        self.flip_rng = np.random.default_rng([*key, zlib.crc32(b"polarity")])
        self.conv_rng = np.random.default_rng([*key, zlib.crc32(b"random-conv")])

    def choose(self, n: int) -> list[str]:
        """The sources of the next ``n`` tiles (the mixing, on its own, for tests and logs)."""
        return [self.names[i] for i in self.rng.choice(len(self.names), size=n, p=self.p)]

    def draw_tile(self, name: str) -> TrainTile:
        cfg, rng = self.cfg, self.rng
        src = self.sources[name]
        size = cfg.tile
        zoom = 1.0
        if rng.random() < cfg.resample_prob:
            zoom = float(np.exp(rng.uniform(np.log(cfg.zoom[0]), np.log(cfg.zoom[1]))))
            size = int(np.ceil(cfg.tile / zoom)) + 2
        tile = src.draw(rng, size, cfg.lai_looks) if name == "lai" else src.draw(rng, size)
        s, t = tile.sigma0, tile.truth
        if zoom != 1.0:
            s, t = resample_tile(s, t, zoom)
            s, t = s[: cfg.tile, : cfg.tile], t[: cfg.tile, : cfg.tile]
        if cfg.despeckle != "none":
            s = despeckle_tile(s, cfg.despeckle, tile.looks * max(1.0, 1.0 / zoom**2))
        s = radiometric(s, rng, cfg)
        self.drawn[name] += 1
        self.families[tile.family] = self.families.get(tile.family, 0) + 1
        return TrainTile(s, t, tile.source, tile.family, tile.looks)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x normalised [n,1,p,p] float32, y [n,1,p,p] uint8)`` with nodata/255 ignored."""
        cfg, rng = self.cfg, self.rng
        xs, ys = [], []
        per = max(1, cfg.crops_per_tile)
        for name in self.choose(int(np.ceil(n / per))):
            tile = self.draw_tile(name)
            x = normalise(tile.sigma0, self.norm, scene_stats(tile.sigma0, self.norm))
            x[~np.isfinite(tile.sigma0)] = 0.0
            y = np.where(np.isfinite(tile.sigma0), tile.truth, IGNORE).astype(np.uint8)
            h, w = x.shape
            p = min(cfg.patch, h, w)
            for _ in range(per):
                r0, c0 = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
                xi, yi = dihedral(
                    x[r0 : r0 + p, c0 : c0 + p], y[r0 : r0 + p, c0 : c0 + p], int(rng.integers(8))
                )
                xs.append(np.ascontiguousarray(xi))
                ys.append(np.ascontiguousarray(yi))
        x_out, y_out = np.stack(xs[:n])[:, None], np.stack(ys[:n])[:, None]
        if cfg.polarity_flip > 0:
            flip = self.flip_rng.random(len(x_out)) < cfg.polarity_flip
            x_out[flip] = -x_out[flip]  # nodata stays 0
        if cfg.random_conv > 0:
            for i in np.flatnonzero(self.conv_rng.random(len(x_out)) < cfg.random_conv):
                # nodata is exactly 0 after normalisation (set above) and stays 0
                x_out[i, 0] = random_convolution(x_out[i, 0], x_out[i, 0] != 0.0, self.conv_rng)
        return x_out, y_out


def fixed_tiles(sampler: MixedSampler, n: int, seed: int) -> list[TrainTile]:
    """``n`` tiles drawn with their own seed (validation sets that do not move with training)."""
    keep = sampler.rng
    sampler.rng = np.random.default_rng([seed, zlib.crc32(b"validation")])
    try:
        return [sampler.draw_tile(name) for name in sampler.choose(n)]
    finally:
        sampler.rng = keep
