"""Hostile or broken input through the real CLI: `import` and `evaluate` answer "file:line: reason", never a
traceback, a crash or raw terminal escapes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from pneumoviewer.cli import main
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.review import ReviewStore

# Three lengths of ~2**64/3: in int64 their sum wraps to 2 and the run end to 3, inside a 256² image, and numpy's
# `repeat` wrote 2**62 values into a 2-element buffer (SIGSEGV in `import`, `evaluate` and the GUI's Import Labels).
WRAPS = "1 6148914691236517206 0 6148914691236517206 0 6148914691236517206"
CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]


@pytest.fixture
def folder(phantom_dataset, tmp_path):
    dst = tmp_path / "study"
    shutil.copytree(phantom_dataset.root, dst)
    return dst


@pytest.fixture
def ids(folder):
    return read_rle_csv(folder / "train-rle.csv").image_ids


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """A child process: a segfault must fail this test, not end the test run."""
    return subprocess.run([sys.executable, "-m", "pneumoviewer", *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _no_escapes(text: str) -> None:
    assert not any(c in text for c in CONTROL if c != "\n"), repr(text)


def test_int64_wrapping_runs_are_refused_naming_file_line_and_token(folder, ids, tmp_path):
    bad = tmp_path / "wraps.csv"
    bad.write_text(f"ImageId,EncodedPixels\n{ids[0]},-1\n{ids[1]},{WRAPS}\n")
    r = _cli("import", str(folder), str(bad))
    assert r.returncode == 2, r.stderr
    assert "wraps.csv:3:" in r.stderr and "length '6148914691236517206' at pair 1" in r.stderr
    assert "nothing imported" in r.stderr and "Traceback" not in r.stderr
    r = _cli("evaluate", "--pred", str(bad), "--truth", str(folder / "train-rle.csv"), "--size", "256x256")
    assert r.returncode == 2 and "wraps.csv:3:" in r.stderr and "Traceback" not in r.stderr, r.stderr
    with ReviewStore.open(folder) as store:
        assert store.final_entries() == []


@pytest.mark.parametrize("token", ["1_0", "+10", "\u0661\u0660"])
def test_only_ascii_digits_are_numbers(folder, ids, tmp_path, capsys, token):
    bad = tmp_path / "digits.csv"
    bad.write_text(f"ImageId,EncodedPixels\n{ids[1]},{token} 5\n", encoding="utf-8")
    assert main(["import", str(folder), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"digits.csv:2: {ids[1]}: RLE start '{token}' at pair 1 is not a whole number" in err


def test_image_resaved_at_another_size_is_refused_naming_the_line(folder, ids, tmp_path, capsys):
    """The store knows the image at 256², its DICOM is now 512² (re-saved): nothing is imported, by the house rule
    for a CSV that cannot be imported as a whole."""
    with ReviewStore.open(folder) as store:
        store.register_image(ids[1], 512, 512)
    assert main(["import", str(folder), str(folder / "train-rle.csv")]) == 2
    err = capsys.readouterr().err
    line = 1 + next(i for i, row in enumerate((folder / "train-rle.csv").read_text().splitlines()) if ids[1] in row)
    assert f"train-rle.csv:{line}: {ids[1]}: the review store has this image at 512x512" in err
    assert "its DICOM in the folder is 256x256" in err and "nothing imported" in err
    assert "Traceback" not in err
    with ReviewStore.open(folder) as store:
        assert store.final_entries() == []


def test_review_store_from_a_newer_version_is_named(folder, tmp_path, capsys):
    store_file = folder / ".pneumoviewer" / "review.sqlite"
    with ReviewStore.open(folder):
        pass
    conn = sqlite3.connect(store_file)
    conn.execute("PRAGMA user_version = 999")  # written by a newer PneumoViewer
    conn.close()
    code = main(["import", str(folder), str(folder / "train-rle.csv")])
    err = capsys.readouterr().err
    assert code != 0 and "review.sqlite" in err and "Traceback" not in err
    code = main(["evaluate", "--store", str(folder)])
    err = capsys.readouterr().err
    assert code != 0 and "review store" in err and "Traceback" not in err


def test_damaged_review_store_is_no_traceback(folder, capsys):
    """sqlite3.DatabaseError ("file is not a database"). How a damaged store is recovered is the store's business
    (it may be moved aside); the CLI must never answer with a traceback, and a refusal names the store."""
    (folder / ".pneumoviewer").mkdir()
    (folder / ".pneumoviewer" / "review.sqlite").write_bytes(bytes(range(256)) * 20)
    code = main(["import", str(folder), str(folder / "train-rle.csv")])
    err = capsys.readouterr().err
    assert "Traceback" not in err and (code == 0 or "review.sqlite: review store:" in err), err


def test_unwritable_per_image_table_is_a_message(folder, tmp_path, capsys):
    truth = str(folder / "train-rle.csv")
    code = main(["evaluate", "--pred", truth, "--truth", truth, "--size", "256x256", "--per-image", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and f"pneumoviewer evaluate: {tmp_path}: Is a directory" in err


def test_terminal_escapes_from_a_csv_are_not_echoed_raw(folder, ids, tmp_path, capsys):
    bad = tmp_path / "esc.csv"
    bad.write_text(f"ImageId,EncodedPixels\n{ids[0]}\x1b]0;owned\x07\x1b[2J,1 2 3\n")
    assert main(["import", str(folder), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "esc.csv:2:" in err and "\\x1b]0;owned\\x07\\x1b[2J: RLE has an odd number" in err
    _no_escapes(err)
    bad.write_text(f"ImageId,EncodedPixels\n{ids[0]},1 \x1b[2J\n")
    assert main(["evaluate", "--pred", str(bad), "--truth", str(bad), "--size", "256x256"]) == 2
    err = capsys.readouterr().err
    assert "esc.csv:2:" in err and "'\\x1b[2J'" in err
    _no_escapes(err)


def test_oversized_size_is_refused_before_allocating(folder, capsys):
    truth = str(folder / "train-rle.csv")
    assert main(["evaluate", "--pred", truth, "--truth", truth, "--size", "100000x100000"]) == 2
    err = capsys.readouterr().err
    assert "train-rle.csv:2:" in err and "image size 100000x100000 is larger than the largest image" in err


def test_a_deep_manifest_is_a_bundle_error(tmp_path):
    from pneumoviewer.inference.bundle import BundleError, read_manifest

    (tmp_path / "manifest.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(BundleError, match="nested too deeply"):
        read_manifest(tmp_path)


def test_printable_escapes_every_control_character_and_keeps_the_rest():
    from pneumoviewer.core.text import printable

    assert printable("a\x1b[2Jb\r\nc\td\x00\x7f\x85\x9f") == "a\\x1b[2Jb\\x0d\\x0ac\\x09d\\x00\\x7f\\x85\\x9f"
    kept = "ImageId 1.2.3 – Ünïcode ١٠ \u00a0 😀 \\x1b"
    assert printable(kept) == kept
    assert printable("id\u202e1.2") == "id\\u202e1.2"  # a bidi override would make the line read differently
    assert printable("".join(CONTROL)).isprintable()


def test_import_of_a_csv_matching_no_image_is_an_error(folder, tmp_path, capsys):
    """Issue 14: a CSV for another folder imports nothing and must say so with a non-zero exit."""
    other = tmp_path / "other.csv"
    other.write_text("ImageId,EncodedPixels\n1.2.3.4.5,-1\n9.8.7.6, 10 5\n", encoding="utf-8")
    code = main(["import", str(folder), str(other)])
    err = capsys.readouterr().err
    assert code == 1 and "none of its 2 image(s)" in err and "nothing imported" in err
    assert main(["import", str(folder), str(folder / "train-rle.csv")]) == 0
