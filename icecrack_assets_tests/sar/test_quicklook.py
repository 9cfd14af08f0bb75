import numpy as np
from PIL import Image

from icecrack_assets.sar.quicklook import (
    MapGrid,
    nice_length_km,
    north_angle_deg,
    read_decimated,
    read_decimated_db,
    write_quicklook,
)


def test_decimated_read_keeps_the_grid_and_nodata(tiny_raster):
    arr = np.full((1000, 600), 0.1, np.float32)
    arr[:, :300] = 0.01  # -20 dB left half, -10 dB right half
    arr[:100] = np.nan
    a = tiny_raster(arr, name="a.tif")
    db = read_decimated_db(a, max_size=200)
    assert max(db.shape) <= 200
    assert abs(np.nanmean(db[:, -10:]) + 10) < 1e-4
    assert np.isnan(db[:5]).all()
    _, grid = read_decimated(a, max_size=200)
    assert grid.crs == "EPSG:3413" and grid.right - grid.left == 600 * 20.0


def test_labelled_panels_share_one_stretch(tiny_raster, tmp_path):
    dark = tiny_raster(np.full((300, 300), 0.01, np.float32), name="dark.tif")
    bright = tiny_raster(np.full((300, 300), 0.1, np.float32), name="bright.tif")
    png = write_quicklook([dark, bright], tmp_path / "q.png", labels=["raw", "filtered"], caption="c")
    img = np.asarray(Image.open(png).convert("L"), float)
    h, w = img.shape
    assert h > w  # stacked
    col = img[:, int(w * 0.45)]
    # centre of each panel: the brighter scene is drawn brighter (one shared stretch, not two)
    assert col[int(h * 0.72) : int(h * 0.76)].mean() > col[int(h * 0.27) : int(h * 0.31)].mean() + 50


def test_scale_bar_lengths_are_round():
    assert nice_length_km(100) == 20
    assert nice_length_km(40) == 5
    assert nice_length_km(3) == 0.5


def test_north_arrow_points_to_true_north_not_grid_up():
    # Jakobshavn (EPSG:3413, 45 W is grid up): at ~49 W north leans a few degrees clockwise
    jak = MapGrid(-220_000, -160_000, -2_300_000, -2_250_000, "EPSG:3413")
    assert 0 < north_angle_deg(jak) < 10
    # Thwaites (EPSG:3031): true north points away from the pole, i.e. away from (0, 0)
    thw = MapGrid(-1_600_000, -1_500_000, -500_000, -400_000, "EPSG:3031")
    a = np.radians(north_angle_deg(thw))
    direction = np.array([np.sin(a), np.cos(a)])
    away_from_pole = np.array([-1_550_000, -450_000]) / np.hypot(1_550_000, 450_000)
    assert direction @ away_from_pole > 0.99
