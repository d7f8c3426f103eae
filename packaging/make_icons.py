"""Render every installer icon Briefcase needs from the SVG source art in resources/icons/.

Why a script: the SVGs are the only hand-made art; the PNG sizes (Linux system/AppImage/Flatpak), the Windows
.ico and the macOS .icns are derived, so they are regenerated here instead of being edited by hand.

Usage (from the repository root, with the project's environment, which has PySide6 and Pillow):

    .venv/bin/python packaging/make_icons.py            # write resources/icons/installer/*
    .venv/bin/python packaging/make_icons.py --check    # exit 1 if a file is missing or has the wrong size
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "resources" / "icons"
OUT_DIR = SOURCE_DIR / "installer"

# name in pyproject's [tool.briefcase] icon settings -> SVG source art
ICONS = {"pneumoviewer": "pneumoviewer.svg", "dicom-document": "dicom-document.svg"}
# Briefcase's Linux system, AppImage and Flatpak templates ask for exactly these PNG sizes.
PNG_SIZES = (16, 32, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512)


def expected_files() -> dict[Path, int | None]:
    """Every generated file -> its pixel size (None for multi-size containers)."""
    files: dict[Path, int | None] = {}
    for name in ICONS:
        for size in PNG_SIZES:
            files[OUT_DIR / f"{name}-{size}.png"] = size
        files[OUT_DIR / f"{name}.ico"] = None
        files[OUT_DIR / f"{name}.icns"] = None
    return files


def render(svg: Path, size: int):  # -> PIL.Image.Image
    """Rasterise the SVG at `size`x`size` with Qt's SVG renderer (antialiased, transparent background)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # text rendering needs a GUI application
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def generate() -> list[Path]:
    """Write all PNG/ICO/ICNS files; returns the paths written."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, svg_name in ICONS.items():
        svg = SOURCE_DIR / svg_name
        images = {size: render(svg, size) for size in sorted(set(PNG_SIZES) | set(ICO_SIZES) | set(ICNS_SIZES))}
        for size in PNG_SIZES:
            path = OUT_DIR / f"{name}-{size}.png"
            images[size].save(path, optimize=True)
            written.append(path)
        ico = OUT_DIR / f"{name}.ico"
        largest = images[max(ICO_SIZES)]
        largest.save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES],
                     append_images=[images[s] for s in ICO_SIZES if s != max(ICO_SIZES)])
        written.append(ico)
        icns = OUT_DIR / f"{name}.icns"
        images[max(ICNS_SIZES)].save(icns, format="ICNS",
                                     append_images=[images[s] for s in ICNS_SIZES if s != max(ICNS_SIZES)])
        written.append(icns)
    return written


def check() -> list[str]:
    """Problems with the generated files (missing, unreadable, wrong size); empty when all are good."""
    from PIL import Image

    problems = []
    for path, size in expected_files().items():
        if not path.is_file():
            problems.append(f"missing: {path.relative_to(ROOT)}")
            continue
        try:
            with Image.open(path) as im:
                if size is not None and im.size != (size, size):
                    problems.append(f"{path.relative_to(ROOT)}: {im.size[0]}x{im.size[1]}, expected {size}x{size}")
        except OSError as exc:
            problems.append(f"{path.relative_to(ROOT)}: unreadable ({exc})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the generated files")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        print("icons OK" if not problems else f"{len(problems)} icon problem(s)")
        return 1 if problems else 0
    for path in generate():
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
