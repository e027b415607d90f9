"""Static SVG and PNG files of each report chart, rendered by the system's headless Chromium."""

from __future__ import annotations

import base64
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from html import unescape
from pathlib import Path

from ablation.errors import UserError
from ablation.reporting.page.browser import dump_dom, find_chromium
from ablation.reporting.page.html import Section, image_page

SVG_PREFIX = "data:image/svg+xml,"
PNG_PREFIX = "data:image/png;base64,"


def _pre(dom: str, key: str) -> str:
    found = re.search(rf'<pre id="{key}">(.*?)</pre>', dom, re.S)
    return unescape(found.group(1)) if found else ""


def decode_images(dom: str) -> tuple[str, bytes]:
    """The SVG text and PNG bytes an image page left in its DOM."""
    svg_url, png_url = _pre(dom, "svg"), _pre(dom, "png")
    if not svg_url.startswith(SVG_PREFIX) or not png_url.startswith(PNG_PREFIX):
        raise RuntimeError(f"chart did not render: {_pre(dom, 'err') or 'no image produced'}")
    return (urllib.parse.unquote(svg_url[len(SVG_PREFIX):]),
            base64.b64decode(png_url[len(PNG_PREFIX):]))


def export_images(sections: Sequence[Section], folder: Path,
                  write: Callable[[Path, bytes], None] | None = None) -> list[Path]:
    """Write ``<section key>.svg`` and ``.png`` for every chart section; returns the paths.

    ``write(path, bytes)`` writes one file (the CLI passes its guarded, atomic writer).
    """
    put = write or (lambda p, b: p.write_bytes(b))
    if find_chromium() is None:
        raise UserError("--images needs chromium on PATH (Debian: apt-get install -y chromium)")
    if not folder.parent.is_dir():
        raise UserError(f"cannot write into {folder}: {folder.parent} does not exist")
    folder.mkdir(exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="ablate-export-") as tmp:
        for s in sections:
            if s.figure is None:
                continue
            page = Path(tmp) / f"{s.key}.html"
            page.write_text(image_page(s.figure), encoding="utf-8")
            svg, png = decode_images(dump_dom(page))
            for path, blob in ((folder / f"{s.key}.svg", svg.encode("utf-8")),
                               (folder / f"{s.key}.png", png)):
                put(path, blob)
                written.append(path)
    return written
