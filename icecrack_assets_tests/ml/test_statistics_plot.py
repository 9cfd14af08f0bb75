"""The statistics plot: one panel per region on an integer year axis that spans the data, not a century."""

import matplotlib.pyplot as plt
import pandas as pd

from icecrack_assets.ml.statistics import density_figure, plot_density, year_ticks


def test_one_season_is_one_year_tick_not_a_century():
    df = pd.DataFrame(
        {"region": ["jakobshavn", "thwaites"], "year": [2024, 2024], "density_km_per_km2": [0.8, 0.3]}
    )
    fig = density_figure(df)
    try:
        axes = fig.axes
        assert [ax.get_title(loc="left") for ax in axes] == ["jakobshavn", "thwaites"]  # a series per region
        bottom = axes[-1]
        assert bottom.get_xlim() == (2023.5, 2024.5)
        assert [t.get_text() for t in bottom.get_xticklabels()] == ["2024"]
    finally:
        plt.close(fig)


def test_year_ticks_are_integers_and_thinned_for_long_series():
    assert year_ticks([2017, 2018, 2020]) == ([2017, 2018, 2019, 2020], (2016.5, 2020.5))
    ticks, _ = year_ticks(list(range(2000, 2030)))
    assert len(ticks) <= 15 and all(isinstance(t, int) for t in ticks)


def test_plot_is_written(tmp_path):
    df = pd.DataFrame({"region": ["a", "a"], "year": [2023, 2024], "density_km_per_km2": [0.1, float("nan")]})
    plot_density(df, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
