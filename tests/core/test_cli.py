"""brain-mri-review-cli end to end (subprocess) and its failure exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop import cli
from desktop.core.export import (
    CSV_COLUMNS,
    EXTRA_COLUMNS,
    REVIEW_COLUMNS,
    SLICE_CASE_COLUMNS,
    read_csv,
)
from tests.core.factories import ramp, write_cv

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # ``-m`` from the checkout's root: this checkout's code (an installed console script
    # may belong to another checkout of the project); the frozen app's test runs its own
    cmd = [sys.executable, "-m", "desktop.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*cmd, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.shared
def test_emri_small_fifty_rows(shared_dir: Path, test_model_path: Path, tmp_path: Path) -> None:
    out, js = tmp_path / "emri.csv", tmp_path / "emri.json"
    proc = run_cli(
        shared_dir / "dicom" / "emri_small", "--csv", out, "--json", js, "--model", test_model_path
    )
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    assert len(rows) == 50
    assert list(rows[0]) == CSV_COLUMNS + EXTRA_COLUMNS + REVIEW_COLUMNS + SLICE_CASE_COLUMNS
    assert {r["status"] for r in rows} <= {"ok", "uncertain", "unsupported"}
    assert "50 rows" in proc.stderr and "not for diagnostic use" in proc.stderr.lower()
    assert js.exists() and "Traceback" not in proc.stderr


def test_corrupt_file_is_one_error_row(test_model_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_cv(src / "a.png", ramp(96, 96))
    data = write_cv(src / "b.jpg", np.dstack([ramp(96, 96)] * 3)).read_bytes()
    (src / "b.jpg").write_bytes(data[:200])
    proc = run_cli(src, "--csv", tmp_path / "o.csv", "--model", test_model_path)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(tmp_path / "o.csv")
    assert [(Path(r["path"]).name, r["status"] == "error") for r in rows] == [
        ("a.png", False),
        ("b.jpg", True),
    ]
    assert rows[1]["message"] == "truncated JPEG" and "1 error" in proc.stderr


def test_broken_model_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    proc = run_cli(tmp_path, "--csv", tmp_path / "o.csv", "--model", bad)
    assert proc.returncode == 2
    assert "cannot use the model" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.csv").exists()
    proc = run_cli(tmp_path, "--csv", tmp_path / "o.csv", "--model", tmp_path / "missing.onnx")
    assert proc.returncode == 2 and "model file not found" in proc.stderr


def test_unwritable_output_exit_2(test_model_path: Path, tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "--csv", tmp_path / "nope" / "o.csv", "--model", test_model_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    (tmp_path / "o.csv").write_text("keep")
    proc = run_cli(tmp_path, "--csv", tmp_path / "o.csv", "--model", test_model_path)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (tmp_path / "o.csv").read_text() == "keep"
    proc = run_cli(tmp_path, "--csv", tmp_path / "o.csv", "--model", test_model_path, "--overwrite")
    # a folder with no image: nothing could be read (exit 3), nothing written
    assert proc.returncode == cli.EXIT_NOTHING_READ and "nothing to read" in proc.stderr
    assert (tmp_path / "o.csv").read_text() == "keep"


def test_no_model_installed_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "bundled_model_path", lambda: None)
    assert cli.main([str(tmp_path), "--csv", str(tmp_path / "o.csv")]) == 2
    assert "no model installed" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_missing_paths_are_named(test_model_path: Path, tmp_path: Path) -> None:
    """Issue 16.5: a missing path is named; nothing readable is a non-zero exit."""
    out = tmp_path / "o.csv"
    proc = run_cli(tmp_path / "nonexistent", "--csv", out, "--model", test_model_path)
    assert proc.returncode == cli.EXIT_NOTHING_READ, proc.stderr
    assert f"not found: {tmp_path / 'nonexistent'}" in proc.stderr
    assert not out.exists()
    good = write_cv(tmp_path / "good.png", ramp(64))
    proc = run_cli(good, tmp_path / "gone.png", "--csv", out, "--model", test_model_path)
    assert proc.returncode == 0, proc.stderr
    assert f"not found: {tmp_path / 'gone.png'}" in proc.stderr
    assert [r["path"] for r in read_csv(out)] == [str(good)]


def test_every_output_is_checked_before_any_file_is_read(
    test_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 16.6: a folder as target, an unwritable folder: refused before the work."""

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("files were read before the outputs were checked")

    monkeypatch.setattr(cli, "discover", no_work)
    good = write_cv(tmp_path / "good.png", ramp(64))
    model = ["--model", str(test_model_path)]
    folder = tmp_path / "exports"
    folder.mkdir()
    assert cli.main([str(good), "--csv", str(folder), *model]) == 2
    assert "it is a folder" in capsys.readouterr().err

    real = cli.tempfile.NamedTemporaryFile

    def read_only(*args: object, dir: object = None, **kwargs: object):  # noqa: A002
        if Path(str(dir)) == folder:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cli.tempfile, "NamedTemporaryFile", read_only)
    ok_csv = tmp_path / "o.csv"
    assert (
        cli.main([str(good), "--csv", str(ok_csv), "--json", str(folder / "o.json"), *model]) == 2
    )
    assert "Permission denied" in capsys.readouterr().err
    assert not ok_csv.exists()


def test_progress_without_a_terminal_is_a_line_every_few_seconds() -> None:
    """Issue 16.12: a log file gets whole lines, not thousands of \\r updates."""
    import io

    from desktop.core.results import SliceResult, Status

    stream = io.StringIO()
    progress = cli._Progress(3, stream=stream, log_every=3600)
    for i in range(500):
        progress.update(SliceResult(f"/f{i % 3}.png", 0, Status.OK))
    progress.done()
    text = stream.getvalue()
    assert "\r" not in text
    assert text.splitlines() == [text.splitlines()[0]]  # one line for this short run
    assert text.startswith("3/3 files, 500 slices")
