"""Folder walking: recursion, hidden entries, non-images, links, duplicates, cancel."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from desktop.core.discovery import discover
from tests.core.factories import make_dicom, ramp, write_cv, write_dicom


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    (root / "b_sub" / "deeper").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    write_cv(root / "a.png", ramp())
    write_cv(root / "c.jpg", ramp())
    write_cv(root / "b_sub" / "x.bmp", ramp())
    write_cv(root / "b_sub" / "deeper" / "y.tif", ramp())
    write_dicom(root / "b_sub" / "IM0001", make_dicom(ramp(dtype=np.uint16)))
    write_cv(root / ".hidden.png", ramp())
    write_cv(root / ".hidden_dir" / "z.png", ramp())
    (root / "notes.txt").write_text("not an image")
    (root / "Thumbs.db").write_bytes(bytes(64))
    return root


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_recursive_stable_order_and_skips(tree: Path) -> None:
    found = discover([tree])
    assert names(found.files, tree) == [
        "a.png",
        "c.jpg",
        "b_sub/IM0001",
        "b_sub/x.bmp",
        "b_sub/deeper/y.tif",
    ]
    assert found.skipped == 4  # .hidden.png, .hidden_dir, notes.txt, Thumbs.db
    assert discover([tree]).files == found.files


def test_duplicates_are_removed(tree: Path) -> None:
    link = tree.parent / "alias"
    link.symlink_to(tree, target_is_directory=True)
    found = discover([tree / "a.png", tree, link, str(tree / "b_sub" / "x.bmp")])
    assert len(found.files) == 5
    assert found.files[0] == tree / "a.png"
    assert len({p.resolve() for p in found.files}) == 5


def test_symlink_loop_terminates(tree: Path) -> None:
    (tree / "b_sub" / "deeper" / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "self").symlink_to(tree / "self")  # a link to itself: broken
    (tree / "dangling.png").symlink_to(tree / "missing.png")
    found = discover([tree])
    assert len(found.files) == 5
    assert found.skipped >= 6


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_folder_is_counted(tree: Path) -> None:
    locked = tree / "locked"
    locked.mkdir()
    write_cv(locked / "q.png", ramp())
    locked.chmod(0)
    try:
        found = discover([tree])
    finally:
        locked.chmod(0o755)
    assert len(found.files) == 5 and found.skipped == 5


def test_explicit_files_are_kept_and_missing_named(tree: Path) -> None:
    found = discover([tree / "notes.txt", tree / "nope.png"])
    assert found.files == [tree / "notes.txt"]  # the pipeline turns it into an error row
    assert found.missing == [tree / "nope.png"] and found.skipped == 0  # named, not counted


def test_cancel_stops_the_walk(tree: Path) -> None:
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    found = discover([tree], cancel=cancel)
    assert found.cancelled and len(found.files) < 5


def test_scandir_failure_is_counted_not_raised(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import desktop.core.discovery as discovery

    real = os.scandir

    def failing(path: os.PathLike[str] | str) -> object:
        if Path(path).name == "b_sub":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(discovery.os, "scandir", failing)
    found = discover([tree])
    assert names(found.files, tree) == ["a.png", "c.jpg"]
    assert found.skipped == 5


def test_path_key_identifies_the_same_file(tree: Path) -> None:
    from desktop.core.discovery import path_key

    link = tree / "link.png"
    link.symlink_to(tree / "a.png")
    assert (
        path_key(link) == path_key(tree / "b_sub" / ".." / "a.png") == path_key(str(tree / "a.png"))
    )
    assert path_key(tree / "c.jpg") != path_key(tree / "a.png")
