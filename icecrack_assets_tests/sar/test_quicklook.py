import numpy as np
from PIL import Image

from icecrack_assets.sar.quicklook import read_decimated_db, write_quicklook


def test_quicklook_is_small_side_by_side_and_keeps_nodata_dark(tiny_raster, tmp_path):
    arr = np.full((1000, 600), 0.1, np.float32)
    arr[:, :300] = 0.01  # -20 dB left half, -10 dB right half
    arr[:100] = np.nan
    a = tiny_raster(arr, name="a.tif")
    db = read_decimated_db(a, max_size=200)
    assert max(db.shape) <= 200
    assert abs(np.nanmean(db[:, -10:]) + 10) < 1e-4
    png = write_quicklook([a, a], tmp_path / "q.png", max_size=200)
    img = np.asarray(Image.open(png))
    assert img.shape[0] <= 200 and img.shape[1] > 2 * db.shape[1]
    assert img[:5, : db.shape[1]].max() == 0  # nodata rows stay black (the separator is white)
    assert (
        img[50:, db.shape[1] - 5 : db.shape[1]].mean() > img[50:, 5:10].mean()
    )  # brighter where sigma0 is higher
