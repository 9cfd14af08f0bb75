"""icecrack serve-previews: port rules and what it tells the user."""

from __future__ import annotations

import pytest

from icecrack_assets.cli import main
from icecrack_assets.commands import serve_previews


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_outside_0_65535_is_one_line_not_an_internal_error(port, tmp_path, capsys):
    assert main(["serve-previews", "--data-root", str(tmp_path), "--port", port]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("(see icecrack serve-previews -h)") and "--port must be a TCP port" in err
    assert "internal error" not in err and "\n" not in err


def test_port_0_reports_the_port_the_system_chose(tmp_path, capsys, monkeypatch):
    started = []

    def serve_once(self):  # stands in for serve_forever: record the server, return at once
        started.append(self.server_address[1])

    monkeypatch.setattr(serve_previews.http.server.ThreadingHTTPServer, "serve_forever", serve_once)
    assert main(["serve-previews", "--data-root", str(tmp_path), "--port", "0"]) == 0
    out = capsys.readouterr().out
    assert started and started[0] != 0 and f"http://127.0.0.1:{started[0]}/" in out
