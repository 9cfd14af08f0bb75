"""The CLI: every user error is one line on stderr, never a traceback."""

import subprocess
import sys

import pytest

from icecrack_assets.cli import main


def test_regions_lists_all_seven(capsys):
    assert main(["regions"]) == 0
    out = capsys.readouterr().out
    for name in ("jakobshavn", "kangerdlussuaq", "amery", "fimbul", "nickerson", "shackleton", "thwaites"):
        assert name in out


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["demo", "--regions", "petermann"], "unknown region 'petermann'"),
        (["demo", "--count", "0"], "--count must be positive"),
        (["demo", "--year", "2010"], "--year must be 2015 or later"),
    ],
)
def test_demo_argument_errors_are_one_line(argv, expected, capsys, tmp_path):
    assert main(argv + ["--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_installed_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "icecrack_assets.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("icecrack ")
