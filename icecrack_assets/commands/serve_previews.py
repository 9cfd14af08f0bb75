"""``icecrack serve-previews``: serve the data root's full-resolution quick-look PNGs to the Dagster UI.

Optional: the event log holds a small WebP thumbnail of each map and plot, which the UI shows with
no other process. With this server running and ``ICECRACK_PREVIEW_URL`` set (e.g.
``http://127.0.0.1:3031``) the caption entries also show the full-resolution PNGs inline, by URL.
Read-only, PNG files under the data root only, 127.0.0.1 by default; run it next to ``dg dev``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.layout import DataLayout

DEFAULT_PORT = 3031


class PngOnlyHandler(http.server.SimpleHTTPRequestHandler):
    """GET/HEAD of ``*.png`` below the served folder; everything else (listings, weights) is 404."""

    def send_head(self):  # type: ignore[override]
        target = Path(self.translate_path(self.path)).resolve()
        root = Path(self.directory).resolve()
        if target.suffix.lower() != ".png" or root not in target.parents or not target.is_file():
            self.send_error(404, "only quick-look PNGs are served")
            return None
        return super().send_head()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")  # a re-materialised partition shows its new image
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        pass


def make_server(
    root: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(PngOnlyHandler, directory=str(root))
    return http.server.ThreadingHTTPServer((host, port), handler)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve-previews",
        help="serve the full-resolution quick-look PNGs to the Dagster UI (set ICECRACK_PREVIEW_URL)",
    )
    p.add_argument("--data-root", default=str(DataLayout.at().root), help="folder to serve (default: data)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.data_root).resolve()
    if not root.is_dir():
        raise IceCrackError(f"{root}: no such data root")
    try:
        server = make_server(root, args.host, args.port)
    except OSError as exc:
        raise IceCrackError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    port = server.server_address[1]  # the free port the system chose for --port 0
    print(f"serving quick-looks under {root} at http://{args.host}:{port}/ (Ctrl-C stops)")
    print(f"start the UI with ICECRACK_PREVIEW_URL=http://{args.host}:{port} to show them inline")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
