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


def test_an_error_that_surfaces_after_a_termination_signal_is_the_interruption(monkeypatch, capsys):
    """kill of the process group: a DataLoader worker dies of the same SIGTERM and torch raises
    'worker killed' in the main process before the signal's own KeyboardInterrupt lands."""
    import signal

    from icecrack_assets.commands import regions

    def killed(args):
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            pass  # swallowed, as inside a library's callback
        raise RuntimeError("DataLoader worker (pid 8068) is killed by signal: Terminated.")

    monkeypatch.setattr(regions, "run", killed)
    assert main(["regions"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "icecrack regions: interrupted" and "internal error" not in err
    monkeypatch.setattr(regions, "run", lambda args: (_ for _ in ()).throw(RuntimeError("real bug")))
    assert main(["regions"]) == 1 and "internal error: RuntimeError: real bug" in capsys.readouterr().err
