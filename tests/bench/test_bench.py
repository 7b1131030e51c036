"""The benchmark's building blocks on the small test model (fast; no GUI, no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from desktop.bench import KEYS
from desktop.bench.__main__ import _wanted
from desktop.bench.headless import end_to_end, input_tensor, ort_ceiling, rss_profile
from desktop.bench.machine import machine_info, rss_mb
from desktop.bench.slices import phantom, write_phantoms
from desktop.core.classifier import Classifier
from desktop.core.pipeline import Pipeline
from desktop.core.readers import read_slices
from desktop.core.results import Status


@pytest.fixture(scope="module")
def clf(test_model_path: Path) -> Classifier:
    return Classifier.load(test_model_path)


def test_phantoms_are_brain_like_png_files(tmp_path: Path) -> None:
    files = write_phantoms(tmp_path, 5)
    assert [f.suffix for f in files] == [".png"] * 5
    assert len({f.read_bytes() for f in files}) == 5  # every file has its own bytes
    (s,) = list(read_slices(files[0]))
    assert s.pixels.shape == (512, 512)
    centre, corner = s.pixels[200:312, 200:312], s.pixels[:40, :40]
    assert centre.mean() > 0.2 > corner.mean()  # a head in the middle, air around it
    img = phantom(np.random.default_rng(1))
    assert img.dtype == np.uint8 and img.std() > 20


def test_headless_figures_count_every_row(clf: Classifier, tmp_path: Path) -> None:
    files = write_phantoms(tmp_path, 12)
    c = ort_ceiling(clf, input_tensor(clf, files, 12), batch_sizes=(1, 4), min_s=0.05)
    assert c["batch"] in (1, 4) and c["img_s"] > 0
    assert set(c["by_batch"]) == {"1", "4"}
    e = end_to_end(Pipeline(clf, batch_size=4), files)
    assert e["rows"] == 12 and e["img_s"] > 0


def test_memory_profile_samples_every_thousand_rows(clf: Classifier, tmp_path: Path) -> None:
    files = write_phantoms(tmp_path, 4)
    r = rss_profile(Pipeline(clf, batch_size=8), files, slices=40, every=10)
    assert r["rows"] == 40
    assert [n for n, _ in r["samples"]] == [0, 10, 20, 30, 40]
    assert r["peak_rss_mb"] >= max(m for _, m in r["samples"]) > 0
    assert np.isfinite(r["rss_growth_mb_per_1000"])
    assert r["array_bytes_per_row"] > 96 * 96  # the kept thumbnails are counted


def test_memory_profile_keeps_rows_as_the_table_does(clf: Classifier, tmp_path: Path) -> None:
    from desktop.bench.table_rows import TableRows

    files = write_phantoms(tmp_path, 4)
    keep = TableRows(chunk=8, cache_limit=10)
    r = rss_profile(Pipeline(clf, batch_size=8), files, slices=40, every=10, keep=keep)
    keep.flush()
    assert r["rows"] == 40 == keep.model.rowCount()
    # files are cycled, yet every row has its own key: the cache is full, not 4 entries
    assert len(keep.model.thumbnails) == 10
    assert all(keep.model.row_at(i).thumbnail is None for i in range(40))
    assert 0 < r["array_bytes_per_row"] < 96 * 96  # a quarter of the rows hold an image


def test_keys_and_machine() -> None:
    assert _wanted(None) == set(KEYS)
    assert _wanted("startup_s, first_row_s") == {"startup_s", "first_row_s"}
    with pytest.raises(SystemExit):
        _wanted("speed")
    m = machine_info()
    assert m["cores"] and m["python"] and m["onnxruntime"]
    cur, peak = rss_mb()
    assert 0 < cur <= peak
    json.dumps(m)


def test_pipeline_rows_are_ok_for_phantoms(clf: Classifier, tmp_path: Path) -> None:
    files = write_phantoms(tmp_path, 3)
    rows = list(Pipeline(clf).run(files))
    assert [r.path for r in rows] == [str(f) for f in files]
    assert all(r.status is not Status.ERROR and r.thumbnail is not None for r in rows)


def test_the_preview_scenario_volume_is_a_readable_nifti(tmp_path: Path) -> None:
    """Issue 16.2: the volume of gui_volume_stall_ms (small here) reads as axial slices."""
    from desktop.bench.volumes import write_volume

    path = write_volume(tmp_path / "v.nii.gz", shape=(32, 32, 12))
    slices = list(read_slices(path))
    assert 6 <= len(slices) <= 12 and slices[0].pixels.shape == (32, 32)
    assert "gui_volume_stall_ms" in KEYS


def test_folder_figures_exist_and_give_the_ratios(test_model_path: Path, tmp_path: Path) -> None:
    from desktop.bench.folder import FOLDER_KEYS, folder_figures, ratios

    files = write_phantoms(tmp_path, 6)
    r = folder_figures(test_model_path, files, seconds=0.01, batch_sizes=(1, 4))
    assert r["model_precision"] == "fp32" and r["main_kind"] == "image"
    assert set(r["kinds"]) == {"image"}
    for k in FOLDER_KEYS:
        assert np.isfinite(r[k]) and r[k] > 0, k
    net = r["kinds"]["image"]["details"]["network"]
    assert net["batch"] in (1, 4) and net["threads"] >= 1
    assert r["kinds"]["image"]["slices"] == 6
    assert r["overhead_ratio"] == pytest.approx(
        r["end_to_end_cpu_ms"] / (r["decode_cpu_ms"] + r["network_cpu_ms"])
    )
    assert r["speedup_vs_naive"] == pytest.approx(r["end_to_end_img_s"] / r["naive_img_s"])
    assert ratios({"decode_cpu_ms": 1.0}) == {"overhead_ratio": None, "speedup_vs_naive": None}


def test_folder_figures_by_kind_of_file(test_model_path: Path, tmp_path: Path) -> None:
    from desktop.bench.folder import folder_figures
    from desktop.bench.volumes import write_volume
    from desktop.selftest import write_dicom

    files = write_phantoms(tmp_path, 2)
    px = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 2000) + 100
    for i in range(2):
        write_dicom(tmp_path / f"IM{i}.dcm", px)
    files += [tmp_path / "IM0.dcm", tmp_path / "IM1.dcm"]
    files.append(write_volume(tmp_path / "head.nii.gz", shape=(48, 48, 6)))
    r = folder_figures(test_model_path, files, seconds=0.01, batch_sizes=(2,))
    assert set(r["kinds"]) == {"image", "dicom", "nifti"}
    for kind in ("dicom", "nifti"):
        k = r["kinds"][kind]
        assert k["slices"] > 0 and k["naive_img_s"] is None  # Pillow reads neither
        for key in ("decode_cpu_ms", "network_cpu_ms", "end_to_end_cpu_ms", "end_to_end_img_s"):
            assert np.isfinite(k[key]) and k[key] > 0, (kind, key)
        assert k["overhead_ratio"] > 0


def test_cli_folder_run_writes_the_folder_keys(test_model_path: Path, tmp_path: Path) -> None:
    from desktop.bench.__main__ import main

    folder = tmp_path / "in"
    folder.mkdir()
    write_phantoms(folder, 4)
    out = tmp_path / "bench.json"
    only = "decode_cpu_ms,network_cpu_ms,end_to_end_cpu_ms,end_to_end_img_s,naive_img_s"
    argv = ["--folder", str(folder), "--images", "4", "--seconds", "0.01"]
    assert main([*argv, "--model", str(test_model_path), "--json", str(out), "--only", only]) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    for k in only.split(","):
        assert res[k] > 0, k
    assert res["model_precision"] == "fp32" and res["machine"]["cores"]
    assert res["ratios"]["overhead_ratio"] > 0 and res["ratios"]["speedup_vs_naive"] > 0
