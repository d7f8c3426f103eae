"""SIIM RLE codec: hand-worked strings, exact round trips (property tests), and every malformed input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pneumoviewer.io.rle import RleError, decode, encode, encode_instances, parse


def _reference_encode(mask: np.ndarray) -> str:
    """Per-pixel reference (the organisers' idea, but keeping a run that touches the last pixel)."""
    flat = mask.T.ravel()
    out: list[int] = []
    last_end = 0
    k = 0
    while k < flat.size:
        if flat[k]:
            start = k
            while k < flat.size and flat[k]:
                k += 1
            out += [start - last_end, k - start]
            last_end = k
        else:
            k += 1
    return " ".join(map(str, out)) if out else "-1"


# 3x3, column-major order is: (0,0) (1,0) (2,0) (0,1) (1,1) (2,1) (0,2) (1,2) (2,2)
HAND = [
    ("-1", [[0, 0, 0], [0, 0, 0], [0, 0, 0]]),
    ("0 1", [[1, 0, 0], [0, 0, 0], [0, 0, 0]]),
    ("8 1", [[0, 0, 0], [0, 0, 0], [0, 0, 1]]),  # only the last pixel: must not be dropped
    ("0 9", [[1, 1, 1], [1, 1, 1], [1, 1, 1]]),
    ("1 1 2 2", [[0, 0, 0], [1, 1, 0], [0, 1, 0]]),  # run at 1 (len 1); 2 background; run at 4,5 (len 2)
    ("2 2", [[0, 1, 0], [0, 0, 0], [1, 0, 0]]),  # (2,0) and (0,1) are adjacent in column-major order
    ("3 3 1 2", [[0, 1, 0], [0, 1, 1], [0, 1, 1]]),
]


def _hand_cases() -> list[tuple[str, np.ndarray]]:
    out = []
    for s, m in HAND:
        arr = np.array(m, dtype=bool)
        out.append((s, arr))
    return out


@pytest.mark.parametrize(("rle", "mask"), _hand_cases())
def test_hand_worked_3x3(rle: str, mask: np.ndarray) -> None:
    assert encode(mask) == rle
    np.testing.assert_array_equal(decode(rle, 3, 3), mask)


def test_non_square_orientation() -> None:
    # 2 rows x 4 columns; column-major indices: col0 -> 0,1; col1 -> 2,3; col2 -> 4,5; col3 -> 6,7
    mask = np.zeros((2, 4), dtype=bool)
    mask[0, 1] = mask[1, 1] = mask[0, 2] = True  # indices 2, 3, 4: one run
    mask[1, 3] = True  # index 7, the last pixel
    assert encode(mask) == "2 3 2 1"
    out = decode("2 3 2 1", 2, 4)
    np.testing.assert_array_equal(out, mask)
    assert out.flags.c_contiguous and out.dtype == bool


def test_truthy_dtypes_and_fortran_order() -> None:
    m = np.zeros((5, 7), dtype=np.uint8)
    m[1:3, 2:6] = 255
    s = encode(m)
    assert s == encode(m.astype(bool)) == encode(np.asfortranarray(m)) == _reference_encode(m.astype(bool))


@settings(max_examples=400)
@given(
    arrays(
        dtype=bool,
        shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
        elements=st.booleans(),
    )
)
def test_round_trip_random_masks(mask: np.ndarray) -> None:
    s = encode(mask)
    assert s == _reference_encode(mask)
    np.testing.assert_array_equal(decode(s, *mask.shape), mask)


@settings(max_examples=200)
@given(
    st.integers(1, 64),
    st.integers(1, 64),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["random", "full", "empty", "last", "first", "1xN", "Nx1"]),
)
def test_round_trip_structured(h: int, w: int, density: float, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "1xN":
        h = 1
    elif kind == "Nx1":
        w = 1
    mask = rng.random((h, w)) < density
    if kind == "full":
        mask[:] = True
    elif kind == "empty":
        mask[:] = False
    elif kind == "last":
        mask[-1, -1] = True
    elif kind == "first":
        mask[0, 0] = True
    s = encode(mask)
    assert (s == "-1") == (not mask.any())
    assert s == _reference_encode(mask)
    np.testing.assert_array_equal(decode(s, h, w), mask)
    if kind == "full":
        assert s == f"0 {h * w}"


def test_encode_instances_one_string_per_8_connected_component() -> None:
    m = np.zeros((10, 10), dtype=bool)
    m[1, 1] = m[2, 2] = True  # diagonal: one 8-connected component
    m[6:8, 6:9] = True
    m[0, 9] = True
    parts = encode_instances(m)
    assert len(parts) == 3
    decoded = [decode(p, 10, 10) for p in parts]
    union = np.zeros_like(m)
    for d in decoded:
        assert not (union & d).any()
        union |= d
    np.testing.assert_array_equal(union, m)
    assert decoded[0][1, 1] and decoded[0][2, 2]  # column-major order of first pixel
    assert encode_instances(np.zeros((4, 4), bool)) == []


@pytest.mark.parametrize(
    ("rle", "needle"),
    [
        ("1 2 3", "odd number"),
        ("1 x", "not a whole number"),
        ("1.5 2", "not a whole number"),
        ("-3 2", "negative"),
        ("0 -2", "negative"),
        ("0 0", "length 0"),
        ("5 2 0 3 1e3 1", "not a whole number"),
    ],
)
def test_malformed_strings(rle: str, needle: str) -> None:
    with pytest.raises(RleError, match=needle):
        parse(rle)
    with pytest.raises(RleError, match=needle):
        decode(rle, 10, 10)


def test_runs_past_the_image() -> None:
    decode("0 9", 3, 3)
    with pytest.raises(RleError, match="past the end"):
        decode("0 10", 3, 3)
    with pytest.raises(RleError, match="past the end"):
        decode("2 2 5 1", 3, 3)  # second run starts at 9
    with pytest.raises(RleError):
        decode("0 1", 0, 3)
    with pytest.raises(RleError):
        encode(np.zeros((2, 2, 2), bool))


def test_empty_forms() -> None:
    assert not decode("-1", 4, 5).any()
    assert not decode(" -1 ", 4, 5).any()
    assert not decode("", 4, 5).any()
    assert encode(np.zeros((0, 3), bool)) == "-1"


def test_realistic_1024_mask_matches_reference() -> None:
    from pneumoviewer.phantom import sample_instances

    for seed in range(3):
        for m in sample_instances(seed, 1024):
            s = encode(m)
            assert s == _reference_encode(m)
            np.testing.assert_array_equal(decode(s, 1024, 1024), m)


# --- hostile values: checked before anything is allocated, the error names the token -------------------------------

@pytest.mark.parametrize(
    ("rle", "needle"),
    [
        # near 2**63: the running end used to overflow int64 into range and numpy `repeat` segfaulted
        ("1 9223372036854775000 5 9223372036854775000", r"length '9223372036854775000' at pair 1 is larger"),
        # three lengths of ~2**64/3: their sum wraps to 2, the end to 3, and `repeat` wrote past its buffer
        ("1 6148914691236517206 0 6148914691236517206 0 6148914691236517206", "length '6148914691236517206' at pair 1"),
        ("9223372036854775807 1", r"start '9223372036854775807' at pair 1 is larger"),
        ("1 2 3 " + "9" * 5000, "length '99999999999999999999…99999999' at pair 2 is larger"),  # int() refuses it
        ("2147483649 1", "start '2147483649' at pair 1 is larger than the largest image"),
        ("2147483000 600 100 100", "start '100' at pair 2 takes the runs past pixel 2,147,483,648"),
        ("0 1073741824 0 1073741824 0 1", "length '1' at pair 3 takes the runs past"),
    ],
)
def test_huge_values_and_running_sums_are_refused(rle: str, needle: str) -> None:
    with pytest.raises(RleError, match=needle):
        parse(rle)
    with pytest.raises(RleError, match=needle):
        decode(rle, 1024, 1024)


@pytest.mark.parametrize(
    ("rle", "token"),
    [
        ("1_0 5", "start '1_0' at pair 1"),  # Python int() takes these three
        ("+10 5", "start '+10' at pair 1"),
        ("\u0661\u0660 5", "start '\u0661\u0660' at pair 1"),  # Arabic-Indic digits
        ("10 \uff15", "length '\uff15' at pair 1"),  # fullwidth 5
        ("10 5\u00a07 2", "length '5\u00a07' at pair 1"),  # a no-break space is not a separator
        ("10 5 7\x1c2", r"start '7\x1c2' at pair 2"),  # nor is an ASCII file separator; shown escaped
        ("3 \x1b[2J", r"length '\x1b[2J' at pair 1"),
    ],
)
def test_only_ascii_digits_and_the_token_is_named(rle: str, token: str) -> None:
    with pytest.raises(RleError, match=re.escape(token) + " is not a whole number") as info:
        parse(rle)
    assert "\x1b" not in str(info.value) and "\x1c" not in str(info.value)


def test_leading_zeros_and_ascii_white_space_are_fine() -> None:
    starts, lengths = parse("0000000000000000000000003 2\t1\r\n1")
    assert starts.tolist() == [3, 6] and lengths.tolist() == [2, 1]


def test_oversized_image_is_refused_before_allocating() -> None:
    with pytest.raises(RleError, match="image size 100000x100000 is larger than the largest image"):
        decode("0 1", 100_000, 100_000)  # would be a 10 GB mask


def test_dense_masks_decode_within_about_two_bytes_a_pixel() -> None:
    import tracemalloc

    h, w = 2000, 3000  # a CR-sized image, almost all set: 6 M pixels in 2 runs
    rle = f"5 {h * w - 10} 3 2"
    tracemalloc.start()
    out = decode(rle, h, w)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.sum() == h * w - 8 and not out[4, 0] and out[5, 0] and not out[-3, -1] and out[-1, -1]
    assert peak < 2.2 * h * w  # the per-pixel index arrays would take 32 bytes a pixel (190 MB)
