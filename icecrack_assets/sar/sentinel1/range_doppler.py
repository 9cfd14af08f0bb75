"""Range-Doppler geometry of a GRD product from its annotation: where a 3-D point lands in the image.

The annotation carries the orbit (state vectors every 10 s), the zero-Doppler time of the first line
and the line interval, and the slant-range -> ground-range polynomials (``srgrCoefficients``, one set
per second of azimuth time). For a point P (ECEF) the zero-Doppler time t solves
``V(t) . (P - S(t)) = 0``; its line is ``(t - t0) / dt``; its slant range ``|P - S(t)|`` becomes the
GRD ground range through the polynomials interpolated linearly in azimuth time, and its pixel is that
over the range pixel spacing. This is the model ESA's processor and sarsen use.

Why not just the GCP grid: ESA's slant-to-ground polynomials change with the terrain along the swath;
over mountains the ground range of one slant range differs by up to ~9 pixels from one polynomial
(one second) to the next, and the GCP rows (every ~2000 lines) cannot follow that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from lxml import etree

SPEED_OF_LIGHT = 299_792_458.0  # m/s


def _time(text: str | None) -> dt.datetime:
    if not text:
        raise ValueError("missing time")
    return dt.datetime.fromisoformat(text.strip().rstrip("Z"))


@dataclass(frozen=True)
class RadarGeometry:
    """Everything needed to map ECEF points to GRD (line, pixel); times are seconds after line 0."""

    orbit_t: np.ndarray  # (n,)
    orbit_pos: np.ndarray  # (n, 3) ECEF metres
    first_line: dt.datetime
    line_interval: float  # seconds
    range_spacing: float  # metres of ground range per pixel
    conv_t: np.ndarray  # (m,)
    conv_sr0: np.ndarray  # (m,)
    conv_coeffs: np.ndarray  # (m, k) srgr polynomial, lowest degree first

    def _orbit_fit(self) -> tuple[np.polynomial.Polynomial, ...]:
        deg = min(7, len(self.orbit_t) - 1)
        return tuple(np.polynomial.Polynomial.fit(self.orbit_t, self.orbit_pos[:, k], deg) for k in range(3))

    def zero_doppler_time(self, p: np.ndarray, t_guess: np.ndarray, iterations: int = 4) -> np.ndarray:
        """Zero-Doppler time of points ``p`` (..., 3) by Newton iteration from ``t_guess``.

        From the GCP grid's guess (well under a line off) Newton converges quadratically: two
        iterations already reach microseconds; four leave margin for a poor guess.
        """
        fits = self._orbit_fit()
        vel = tuple(f.deriv() for f in fits)
        acc = tuple(f.deriv(2) for f in fits)
        t = np.asarray(t_guess, dtype=np.float64).copy()
        for _ in range(iterations):
            d = [p[..., k] - fits[k](t) for k in range(3)]
            v = [vel[k](t) for k in range(3)]
            a = [acc[k](t) for k in range(3)]
            f = d[0] * v[0] + d[1] * v[1] + d[2] * v[2]
            fp = (d[0] * a[0] + d[1] * a[1] + d[2] * a[2]) - (v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
            t = t - f / fp
        return np.asarray(t, dtype=np.float64)

    def slant_range(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        fits = self._orbit_fit()
        return np.asarray(np.sqrt(sum((p[..., k] - fits[k](t)) ** 2 for k in range(3))), dtype=np.float64)

    def ground_range(self, t: np.ndarray, slant: np.ndarray) -> np.ndarray:
        """GRD ground range of a slant range at azimuth time t (polynomials interpolated in time)."""
        t = np.asarray(t, dtype=np.float64)
        j = np.clip(np.searchsorted(self.conv_t, t, side="right") - 1, 0, len(self.conv_t) - 2)
        if len(self.conv_t) == 1:
            j = np.zeros_like(t, dtype=int)
            w = np.zeros_like(t)
        else:
            t0, t1 = self.conv_t[j], self.conv_t[j + 1]
            w = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
        out = np.zeros_like(slant, dtype=np.float64)
        for side, weight in ((0, 1.0 - w), (1, w)):
            k = np.minimum(j + side, len(self.conv_t) - 1)
            x = slant - self.conv_sr0[k]
            g = np.zeros_like(out)
            for c in range(self.conv_coeffs.shape[1] - 1, -1, -1):  # Horner
                g = g * x + self.conv_coeffs[k, c]
            out += weight * g
        return out

    def image_coords(self, p: np.ndarray, t_guess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of ECEF points ``p`` (..., 3); ``t_guess`` seeds the zero-Doppler search."""
        line, pixel, _ = self.locate(p, t_guess)
        return line, pixel

    def locate(self, p: np.ndarray, t_guess: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(line, pixel, look angle in radians from the sensor's nadir) of ECEF points ``p``."""
        t = self.zero_doppler_time(p, t_guess)
        fits = self._orbit_fit()
        s = [fits[k](t) for k in range(3)]
        d = [p[..., k] - s[k] for k in range(3)]
        slant = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
        radius = np.sqrt(s[0] ** 2 + s[1] ** 2 + s[2] ** 2)
        cos_look = -(d[0] * s[0] + d[1] * s[1] + d[2] * s[2]) / (slant * radius)
        look = np.arccos(np.clip(cos_look, -1.0, 1.0))
        pixel = self.ground_range(t, slant) / self.range_spacing
        return np.asarray(t / self.line_interval, dtype=np.float64), pixel, look


def parse_geometry(annotation: etree._Element) -> RadarGeometry:
    """The range-Doppler geometry of a GRD annotation (raises ValueError when a part is missing)."""
    info = annotation.find("imageAnnotation/imageInformation")
    if info is None:
        raise ValueError("no imageInformation")
    first = _time(info.findtext("productFirstLineUtcTime"))
    interval = float(info.findtext("azimuthTimeInterval"))
    spacing = float(info.findtext("rangePixelSpacing"))

    def secs(text: str | None) -> float:
        return (_time(text) - first).total_seconds()

    orbits = annotation.findall("generalAnnotation/orbitList/orbit")
    if len(orbits) < 4:
        raise ValueError(f"{len(orbits)} orbit state vectors; need at least 4")
    orbit_t = np.array([secs(o.findtext("time")) for o in orbits])
    pos = np.array([[float(o.findtext(f"position/{c}")) for c in "xyz"] for o in orbits])
    convs = annotation.findall("coordinateConversion/coordinateConversionList/coordinateConversion")
    if not convs:
        raise ValueError("no coordinateConversion (slant to ground range) records: not a GRD annotation")
    conv_t = np.array([secs(c.findtext("azimuthTime")) for c in convs])
    sr0 = np.array([float(c.findtext("sr0")) for c in convs])
    coeffs = [np.array((c.findtext("srgrCoefficients") or "").split(), dtype=np.float64) for c in convs]
    width = max(len(c) for c in coeffs)
    table = np.zeros((len(coeffs), width))
    for i, c in enumerate(coeffs):
        table[i, : len(c)] = c
    order = np.argsort(orbit_t)
    corder = np.argsort(conv_t)
    return RadarGeometry(
        orbit_t=orbit_t[order],
        orbit_pos=pos[order],
        first_line=first,
        line_interval=interval,
        range_spacing=spacing,
        conv_t=conv_t[corder],
        conv_sr0=sr0[corder],
        conv_coeffs=table[corder],
    )
