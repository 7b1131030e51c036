"""Indexing class-named folders into records (training.data)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data import (
    Label,
    count_by,
    default_roots,
    file_sha256,
    index_roots,
    label_for_folder,
    pixel_hash,
    read_grey,
)


def _write(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (24, 20), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("glioma_tumor", Label.GLIOMA),
        ("glioma", Label.GLIOMA),
        ("meningioma_tumor", Label.MENINGIOMA),
        ("Meningioma", Label.MENINGIOMA),
        ("no_tumor", Label.NO_TUMOR),
        ("notumor", Label.NO_TUMOR),
        ("no", Label.NO_TUMOR),
        ("pituitary_tumor", Label.PITUITARY),
        ("pituitary", Label.PITUITARY),
        ("tumor_unspecified", Label.TUMOR),
        ("yes", Label.TUMOR),
        ("tumor", Label.TUMOR),
    ],
)
def test_folder_names_map_to_labels(name: str, label: Label) -> None:
    assert label_for_folder(name) is label


def test_unknown_folders_have_no_label_and_tumor_is_partial() -> None:
    assert label_for_folder("Training") is None
    assert label_for_folder("images") is None
    assert not Label.TUMOR.is_specific and Label.TUMOR.is_tumour
    assert Label.NO_TUMOR.is_specific and not Label.NO_TUMOR.is_tumour


def test_index_roots_records_source_subset_and_relative_path(tmp_path: Path) -> None:
    _write(tmp_path / "sartaj" / "Training" / "glioma_tumor" / "gg (1).jpg")
    _write(tmp_path / "sartaj" / "Testing" / "no_tumor" / "a.png", 1)
    _write(tmp_path / "br35h" / "yes" / "y1.jpg", 2)
    _write(tmp_path / "br35h" / "no" / "n1.JPG", 3)
    _write(tmp_path / "figshare" / "pituitary" / "7.jpg", 4)
    _write(tmp_path / "figshare" / "unsorted" / "8.jpg", 5)  # not a class folder
    (tmp_path / "figshare" / "pituitary" / "notes.txt").write_text("x")

    records = index_roots(default_roots(tmp_path))
    by_rel = {r.rel_path: r for r in records}
    assert set(by_rel) == {
        "sartaj/Training/glioma_tumor/gg (1).jpg",
        "sartaj/Testing/no_tumor/a.png",
        "br35h/yes/y1.jpg",
        "br35h/no/n1.JPG",
        "figshare/pituitary/7.jpg",
    }
    gg = by_rel["sartaj/Training/glioma_tumor/gg (1).jpg"]
    assert (gg.label, gg.source, gg.subset) == (Label.GLIOMA, "sartaj", "Training")
    assert gg.path == (tmp_path / "sartaj/Training/glioma_tumor/gg (1).jpg").resolve()
    assert by_rel["br35h/yes/y1.jpg"].label is Label.TUMOR
    assert by_rel["br35h/no/n1.JPG"].label is Label.NO_TUMOR
    assert by_rel["figshare/pituitary/7.jpg"].subset == ""
    assert count_by(records, "source") == {"br35h": 2, "figshare": 1, "sartaj": 2}


def test_roots_with_the_same_name_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "br35h" / "no" / "1.jpg")
    _write(tmp_path / "b" / "br35h" / "no" / "1.jpg")
    with pytest.raises(ValueError, match="br35h"):
        index_roots([tmp_path / "a" / "br35h", tmp_path / "b" / "br35h"])


def test_unreadable_file_is_none_and_hashes_are_content_based(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    assert read_grey(bad) is None
    good = tmp_path / "good.png"
    _write(good)
    grey = read_grey(good)
    assert grey is not None and grey.dtype == np.float32 and 0 <= grey.min() <= grey.max() <= 1
    assert pixel_hash(grey) == pixel_hash(grey.copy())
    assert pixel_hash(grey) != pixel_hash(grey[::-1])
    assert file_sha256(good) != file_sha256(bad)
