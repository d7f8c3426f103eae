"""`pneumoviewer info`: file metadata, folder summary, JSON, errors, and no patient names or IDs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pneumoviewer.cli import main
from pneumoviewer.phantom import write_siim_like

SECRET = {"PatientID": "PID-SECRET-4711", "PatientName": "Doe^Jane"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "studies"
    for k in range(3):
        write_siim_like(root / f"s{k}" / "x" / f"{k}.dcm", size=32, seed=k,
                        attrs={**SECRET, "PatientAge": f"0{40 + k}Y", "PatientSex": "MF"[k % 2]})
    (root / "junk.dcm").write_text("garbage")
    return root


def _no_identity(text: str) -> None:
    assert "PID-SECRET-4711" not in text and "Doe" not in text and "Jane" not in text


def test_info_file_text_and_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "s1" / "x" / "1.dcm"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "32 x 32" in out and "JPEG Baseline" in out and "Age (years)              41" in out
    _no_identity(out)
    assert main(["info", str(path), "--json", "--frame", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"] == 32 and data["patient_age"] == 41 and data["patient_sex"] == "F"
    assert data["view_position"] == "PA" and data["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert data["display"]["window_source"] == "percentile"
    assert "patient_key" not in data
    _no_identity(json.dumps(data))


def test_info_folder_summary(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["images"] == 3 and data["studies"] == 3 and data["failures"] == 1
    assert data["age_range"] == [40, 42] and data["sexes"] == {"M": 2, "F": 1}
    assert data["failure_reasons"] == [{"path": "junk.dcm", "reason": "not a DICOM file"}]
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "3 studies" in out and "junk.dcm: not a DICOM file" in out and "40–42" in out
    _no_identity(out)


def test_info_bad_inputs_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 10)
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "not a DICOM file" in err
    assert main(["info", str(tmp_path / "missing.dcm")]) == 2
    assert "no such file" in capsys.readouterr().err
    only_junk = tmp_path / "junk"
    only_junk.mkdir()
    (only_junk / "a.dcm").write_text("x")
    assert main(["info", str(only_junk)]) == 1


def test_info_runs_as_a_process_without_qt_or_tensorflow(folder: Path) -> None:
    code = (
        "import sys; from pneumoviewer.cli import main; rc = main(['info', sys.argv[1], '--json']);"
        "assert 'tensorflow' not in sys.modules and 'PySide6' not in sys.modules; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["images"] == 3


def test_escape_sequences_in_header_values_are_not_sent_to_the_terminal(tmp_path, capsys):
    """Issue 11: a header value holding a terminal escape or a newline prints as visible escapes."""
    path = write_siim_like(tmp_path / "evil\x1b[2J.dcm", size=16,
                           attrs={"BodyPartExamined": "CHEST\x1b]0;owned\x07", "Modality": "CR\nFAKE: line"})
    assert main(["info", str(path)]) == 0
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\nFAKE" not in out
    assert "CHEST\\x1b]0;owned\\x07" in out and "CR\\x0aFAKE: line" in out
