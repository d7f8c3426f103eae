"""SIIM mask CSVs: every header variant in the wild, strict errors with file and line, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pneumoviewer.io.rle import decode, encode
from pneumoviewer.io.siim_csv import (
    CsvError,
    mask_to_rows,
    read_probabilities_csv,
    read_rle_csv,
    write_rle_csv,
)

A, B, C = "1.2.3.1", "1.2.3.2", "1.2.3.3"


def _write(tmp_path: Path, text: str | bytes, name: str = "m.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    p.write_bytes(text)
    return p


@pytest.mark.parametrize(
    "text",
    [
        "ImageId, EncodedPixels\n1.2.3.1, -1\n1.2.3.2, 0 2 3 1\n1.2.3.2, 7 1\n1.2.3.3, -1\n",
        "ImageId,EncodedPixels\n1.2.3.1,-1\n1.2.3.2,0 2 3 1\n1.2.3.2,7 1\n1.2.3.3,-1\n",
        "\ufeffImageId,EncodedPixels\r\n1.2.3.1,-1\r\n1.2.3.2,0 2 3 1\r\n1.2.3.2,7 1\r\n1.2.3.3, -1\r\n",
        "1.2.3.1, -1\n1.2.3.2, 0 2 3 1\n1.2.3.2, 7 1\n1.2.3.3,-1\n\n\n",  # no header, blank trailing lines
        'EncodedPixels,ImageId\n-1,1.2.3.1\n"0 2 3 1",1.2.3.2\n7 1,1.2.3.2\n -1,1.2.3.3\n',  # columns swapped
    ],
)
def test_header_variants(tmp_path: Path, text: str) -> None:
    t = read_rle_csv(_write(tmp_path, text))
    assert t.image_ids == [A, B, C]
    assert len(t) == 3 and t.n_rows == 4
    assert t.rows(A) == ["-1"] and t.rows(B) == ["0 2 3 1", "7 1"]
    assert not t.is_positive(A) and t.is_positive(B) and t.positive_ids() == [B]
    union = t.union_mask(B, 3, 3)
    expected = np.zeros(9, bool)
    expected[[0, 1, 5, 7]] = True  # row 1: pixels 0-1 and 2+3=5; row 2: pixel 7 (column-major)
    np.testing.assert_array_equal(union, expected.reshape(3, 3).T)
    assert len(t.instance_masks(B, 3, 3)) == 2
    assert not t.union_mask(A, 3, 3).any()


def test_overlapping_instances_keep_rows_and_union(tmp_path: Path) -> None:
    t = read_rle_csv(_write(tmp_path, f"ImageId,EncodedPixels\n{A},0 4\n{A},2 4\n"))
    assert t.rows(A) == ["0 4", "2 4"]  # nothing lost
    assert t.union_mask(A, 3, 3).sum() == 6
    assert sum(m.sum() for m in t.instance_masks(A, 3, 3)) == 8


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (f"ImageId,EncodedPixels\n{A},-1\n{A},0 2\n", 3, "both negative"),
        (f"ImageId,EncodedPixels\n{A},0 2\n{B},-1\n{A},-1\n", 4, "both negative"),
        (f"ImageId,EncodedPixels\n{A},1 2 3\n", 2, "odd number"),
        (f"ImageId,EncodedPixels\n{A},-1\n{B},1 x\n", 3, "whole number"),
        (f"ImageId,EncodedPixels\n{A},-1\n\n{B},-4 2\n", 4, "negative"),
        (f"ImageId,EncodedPixels\n{A}\n", 2, "got 1 field"),
        ("ImageId,EncodedPixels\n,-1\n", 2, "empty ImageId"),
        (f"ImageId,EncodedPixels\n{A},0 1,junk\n", 2, "extra field"),
        ("ImageId,Mask\n", 1, "no EncodedPixels"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(CsvError, match=needle) as info:
        read_rle_csv(p)
    assert info.value.line == line
    assert info.value.path == p
    assert f"{p}:{line}" in str(info.value)


def test_not_utf8_and_missing(tmp_path: Path) -> None:
    p = _write(tmp_path, b"ImageId,EncodedPixels\n\xff\xfe,-1\n")
    with pytest.raises(CsvError, match="UTF-8") as info:
        read_rle_csv(p)
    assert info.value.line == 2
    with pytest.raises(CsvError, match="cannot read"):
        read_rle_csv(tmp_path / "missing.csv")


def test_bounds_are_checked_at_decode_with_line(tmp_path: Path) -> None:
    p = _write(tmp_path, f"ImageId,EncodedPixels\n{A},-1\n{B},0 2\n{B},3 9\n")
    t = read_rle_csv(p)  # syntax is fine
    with pytest.raises(CsvError, match="past the end") as info:
        t.union_mask(B, 3, 3)
    assert info.value.line == 4
    assert t.union_mask(B, 4, 4).sum() == 11


def test_mask_to_rows_styles() -> None:
    m = np.zeros((8, 8), bool)
    m[1:3, 1:3] = True
    m[5:7, 5:8] = True
    train = mask_to_rows(A, m, "train")
    assert len(train) == 2 and all(i == A for i, _ in train)
    sub = mask_to_rows(A, m, "submission")
    assert sub == [(A, encode(m))]
    union = np.zeros_like(m)
    for _, s in train:
        union |= decode(s, 8, 8)
    np.testing.assert_array_equal(union, m)
    assert mask_to_rows(B, np.zeros((4, 4), bool), "train") == [(B, "-1")]
    assert mask_to_rows(B, np.zeros((4, 4), bool), "submission") == [(B, "-1")]
    with pytest.raises(ValueError):
        mask_to_rows(A, m, "other")


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    masks = {f"1.2.{i}": rng.random((16, 12)) < (0.1 if i % 2 else 0.0) for i in range(6)}
    rows = [r for i, m in masks.items() for r in mask_to_rows(i, m, "train")]
    out = tmp_path / "sub" / "train.csv"
    assert write_rle_csv(out, rows) == len(rows)
    text = out.read_text()
    assert text.startswith("ImageId,EncodedPixels\n")
    t = read_rle_csv(out)
    assert t.image_ids == list(masks)  # order as given
    for i, m in masks.items():
        np.testing.assert_array_equal(t.union_mask(i, 16, 12), m)
    siim = tmp_path / "siim.csv"
    write_rle_csv(siim, rows, siim_spacing=True)
    assert siim.read_text().startswith("ImageId, EncodedPixels\n")
    assert read_rle_csv(siim).image_ids == list(masks)


def test_write_is_atomic_and_refuses_bad_rows(tmp_path: Path) -> None:
    out = tmp_path / "keep.csv"
    write_rle_csv(out, [(A, "-1")])
    before = out.read_bytes()
    with pytest.raises(ValueError):
        write_rle_csv(out, [(B, "0 2"), (C, "1 2 3")])
    with pytest.raises(ValueError):
        write_rle_csv(out, [("bad,id", "-1")])

    def rows_then_crash():
        yield (B, "0 2")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        write_rle_csv(out, rows_then_crash())
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]  # no temp files left behind


def test_probabilities_csv(tmp_path: Path) -> None:
    p = _write(tmp_path, f"ImageId,probability\n{A},0.9\n{B}, 0.1\n")
    assert read_probabilities_csv(p) == {A: 0.9, B: 0.1}
    assert read_probabilities_csv(_write(tmp_path, f"{A},1\n{B},0\n", "n.csv")) == {A: 1.0, B: 0.0}
    for text, needle, line in [
        (f"ImageId,probability\n{A},x\n", "not a number", 2),
        (f"ImageId,probability\n{A},1.5\n", "outside", 2),
        (f"ImageId,probability\n{A},0.5\n{A},0.6\n", "twice", 3),
        ("ImageId,label\n", "no 'probability'", 1),
    ]:
        with pytest.raises(CsvError, match=needle) as info:
            read_probabilities_csv(_write(tmp_path, text, "bad.csv"))
        assert info.value.line == line


def test_reads_the_phantom_training_file(phantom_dataset) -> None:
    t = read_rle_csv(phantom_dataset.csv_path)
    assert len(t) == 12
    assert t.n_rows >= 12


def test_probabilities_round_trip(tmp_path):
    from pneumoviewer.io.siim_csv import read_probabilities_csv, write_probabilities_csv

    path = tmp_path / "probs.csv"
    assert write_probabilities_csv(path, [("b", 0.25), ("a", 1.0), ("c", 0.0)]) == 3
    assert path.read_text().splitlines()[0] == "ImageId,probability"
    assert read_probabilities_csv(path) == {"b": 0.25, "a": 1.0, "c": 0.0}


@pytest.mark.parametrize(("h", "w", "style"), [(1024, 1024, "submission"), (1024, 1024, "train"),
                                                 (1100, 1500, "submission")])
def test_reader_takes_every_row_the_writer_writes(tmp_path: Path, h: int, w: int, style: str) -> None:
    # The worst case for RLE: a checkerboard, a run every other pixel (one 8-connected component, so one train row).
    r, c = np.indices((h, w))
    checker = (r + c) % 2 == 0
    out = tmp_path / "worst.csv"
    write_rle_csv(out, [*mask_to_rows(A, checker, style), (B, "-1")])
    longest = max(len(line) for line in out.read_text().splitlines())
    assert longest > 131072 * 10  # far past the csv module's default field limit
    t = read_rle_csv(out)
    assert t.image_ids == [A, B]
    np.testing.assert_array_equal(t.union_mask(A, h, w), checker)


def test_a_two_line_csv_near_2_63_is_refused_with_file_line_and_token(tmp_path: Path) -> None:
    p = _write(tmp_path, f"ImageId,EncodedPixels\n{A},1 9223372036854775000 5 9223372036854775000\n")
    with pytest.raises(CsvError, match=r"m\.csv:2: 1\.2\.3\.1: RLE length '9223372036854775000' at pair 1 is larger"):
        read_rle_csv(p)
    p = _write(tmp_path, f"ImageId,EncodedPixels\n{A},1_0 5\n{B},+3 2\n", "u.csv")
    with pytest.raises(CsvError, match=r"u\.csv:2: .*'1_0' at pair 1 is not a whole number"):
        read_rle_csv(p)


def test_error_messages_carry_no_control_characters(tmp_path: Path) -> None:
    p = _write(tmp_path, "ImageId,EncodedPixels\n\x1b]0;owned\x07\x1b[2J,1 2 3\n")
    with pytest.raises(CsvError) as info:
        read_rle_csv(p)
    text = str(info.value)
    assert "m.csv:2: \\x1b]0;owned\\x07\\x1b[2J: RLE has an odd number" in text
    for shown in (text, info.value.reason):
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in shown)


def test_an_oversized_image_is_refused_with_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path, f"ImageId,EncodedPixels\n{B},-1\n{A},0 1\n")
    with pytest.raises(CsvError, match=r"m\.csv:3: 1\.2\.3\.1: image size 60000x60000 is larger"):
        read_rle_csv(p).union_mask(A, 60000, 60000)


_PIECES = st.sampled_from(["ImageId", "EncodedPixels", "probability", " ", ",", '"', "\n", "\r\n", "-1", "0", "1",
                           "7", "9223372036854775807", "1_0", "+", "\ufeff", "\x1b", "nan", "0.5", "1.2.3", "\x00"])


@settings(max_examples=300)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_any_text_gives_a_table_or_a_csv_error(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.csv"
        p.write_text(text, encoding="utf-8")
        try:
            table = read_rle_csv(p)
            for image_id in table.image_ids:
                table.union_mask(image_id, 3, 4)
        except CsvError as exc:
            assert str(exc).startswith(f"{p}:")
        try:
            read_probabilities_csv(p)
        except CsvError as exc:
            assert str(exc).startswith(f"{p}:")
