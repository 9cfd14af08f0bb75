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
    assert w > h and w >= 600
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    cols = np.flatnonzero(red[h // 3 : 2 * h // 3, : int(0.8 * w)].any(axis=0))  # colorbar excluded
    assert cols.size and cols.max() < w / 2  # cracks are drawn in the left panel only
    # the red line is vertical and long: it spans most of the panel's height
    assert red[:, cols].sum(axis=0).max() > 0.4 * h
