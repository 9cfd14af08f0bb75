import datetime as dt

import pytest

from icecrack_assets.sar.sentinel1.naming import build_name, is_safe_scene_id, parse_name

NAME = "S1A_EW_GRDM_1SDH_20221130T014342_20221130T014446_046117_058549_BB15"


def test_parse_and_build_round_trip():
    p = parse_name(NAME + ".SAFE")
    assert (p.mission, p.mode, p.product, p.polarisations) == ("S1A", "EW", "GRDM", ("HH", "HV"))
    assert p.start == dt.datetime(2022, 11, 30, 1, 43, 42, tzinfo=dt.timezone.utc)
    assert str(p) == NAME
    assert build_name("S1B", "IW", "GRDH", ("HH",), p.start, p.stop, 7, "ABC", "1").startswith(
        "S1B_IW_GRDH_1SSH_"
    )


@pytest.mark.parametrize(
    "scene_id,ok",
    [
        (NAME, True),
        (f"../../{NAME}", False),
        (f"{NAME}/../../x", False),
        (f"..\\{NAME}", False),
        (f".{NAME}", False),
        ("holiday-photo", False),
        ("S2A_MSIL1C_20220101", False),
    ],
)
def test_only_real_product_names_are_safe_file_stems(scene_id, ok):
    assert is_safe_scene_id(scene_id) is ok
