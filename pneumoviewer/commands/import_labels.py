"""`pneumoviewer import FOLDER CSV [--as final|reference]`: load a SIIM mask CSV into a folder's review store.

``final`` (default) starts the reviewer's masks from the CSV (annotators refining an existing label set; images
already edited keep their edits); ``reference`` stores it as a reference layer (ground truth or someone's
predictions) shown alongside and used for agreement. A malformed file is refused with file + line and nothing is
imported; so is one that names an image whose DICOM size no longer matches the review store. An unreadable or
newer review store is named with the reason. Every message is `printable` (nothing from a file reaches the terminal
raw).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "import"
HELP = "Import a SIIM mask CSV into a folder's review store (starting masks or a reference layer)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="FOLDER", help="the image folder (sizes come from its DICOM headers)")
    parser.add_argument("csv", metavar="CSV", help="SIIM RLE CSV (ImageId,EncodedPixels)")
    parser.add_argument(
        "--as",
        dest="layer",
        choices=("final", "reference"),
        default="final",
        help="final: start the reviewer's masks from it (default); reference: a layer to compare against",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def _error(message: str) -> None:
    from pneumoviewer.core.text import printable

    print(printable(f"pneumoviewer import: {message}"), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import sqlite3

    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.io.siim_csv import CsvError
    from pneumoviewer.review.import_csv import import_csv
    from pneumoviewer.review.schema import SchemaError
    from pneumoviewer.review.store import ReviewStore, ReviewStoreError, store_path_for

    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        _error(f"{folder}: not a folder")
        return 2
    sizes = scan_folder(folder).sizes()
    try:
        with ReviewStore.open(folder) as store:
            if store.read_only:  # newer schema, locked by another instance, damaged...: never a silent no-op
                _error(f"{store.path}: review store: {store.outcome.message} (nothing imported)")
                return 1
            res = import_csv(store, args.csv, sizes, layer=args.layer)
    except CsvError as exc:
        _error(f"{exc} (nothing imported)")
        return 2
    except (sqlite3.Error, SchemaError, ReviewStoreError) as exc:
        _error(f"{store_path_for(folder)}: review store: {exc} (nothing imported)")
        return 1
    except OSError as exc:
        _error(f"{exc} (nothing imported)")
        return 1
    if res.not_in_folder and not res.rows:  # the CSV names images, none of them in this folder
        _error(f"{args.csv}: none of its {len(res.not_in_folder)} image(s) is in {folder} (ImageId = "
               "SOPInstanceUID); nothing imported")
        return 1
    if args.json:
        print(json.dumps({"layer": args.layer, **res.as_dict()}, indent=2))
    else:
        print(f"imported {res.images} image(s), {res.rows} row(s) as {args.layer}")
        if res.kept_edits:
            print(f"kept the reviewer's edits on {res.kept_edits} image(s)")
        if res.not_in_folder:
            print(f"{len(res.not_in_folder)} image(s) of the CSV are not in {folder}; skipped", file=sys.stderr)
    return 0
