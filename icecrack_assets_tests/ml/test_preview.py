"""The crack-map quick-look: a two-panel map whose red pixels are exactly where the cracks are."""

import numpy as np
from PIL import Image

from icecrack_assets.ml.preview import write_map_quicklook


def test_map_quicklook_draws_cracks_over_backscatter_with_probability_beside(tiny_raster, tmp_path):
    rng = np.random.default_rng(0)
    db = (-12 + rng.normal(0, 1.5, (200, 300))).astype(np.float32)
    prob = np.full((200, 300), 0.05, np.float32)
    prob[:, 150:152] = 0.9  # one crevasse along the middle, 2 px wide
    mask = (prob >= 0.5).astype(np.uint8)
    ice = np.ones((200, 300), np.uint8)
    ice[:, :20] = 0
    paths = {
        n: tiny_raster(a, name=f"{n}.tif", pixel=40.0)
        for n, a in {"db": db, "prob": prob, "mask": mask, "ice": ice}.items()
    }
    png = write_map_quicklook(
        paths["db"], paths["prob"], paths["mask"], tmp_path / "q.png", "jakobshavn 2024", 0.5, paths["ice"]
    )
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    h, w, _ = img.shape
    assert h > w >= 400  # two panels stacked for the UI's narrow metadata column
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    red[:, int(0.8 * w) :] = False  # the colorbar's threshold mark
    rows = np.flatnonzero(red.any(axis=1))
    assert rows.size and rows.max() < h / 2  # cracks are drawn in the upper panel only
    cols = np.flatnonzero(red[h // 8 : 3 * h // 8].any(axis=0))
    # the red line is vertical and long: it spans most of the upper panel's height
    assert cols.size and red[:, cols].sum(axis=0).max() > 0.25 * h
