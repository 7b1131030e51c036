"""A folder of 50,000 non-image files: skipped and counted quickly, known ones never opened."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import desktop.core.readers as readers
from desktop.core.discovery import discover

N_FILES = 50_000
#: names whose extension says "not an image": skipped from the name alone
KNOWN = (".txt", ".xml", ".json", ".log", ".csv")
#: no or unknown extension (DICOM files often look like this): the first bytes are sniffed
UNKNOWN = ("", ".dat", ".001")
#: CPU seconds the whole walk may take (about 2-3 s measured on one loaded core)
CPU_BUDGET = 20.0


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fifty_thousand")
    source = root / "source.bin"
    source.write_bytes(b"plain text, an export of another program\n" * 4)
    kinds = KNOWN + UNKNOWN
    for i in range(N_FILES):  # hard links: one inode, 50,000 directory entries
        os.link(source, root / f"f{i:05d}{kinds[i % len(kinds)]}")
    source.unlink()
    for k in range(3):
        ok, buf = cv2.imencode(".png", np.full((32, 32), 40 * (k + 1), np.uint8))
        (root / f"image_{k}.png").write_bytes(buf.tobytes())
    return root


def test_fifty_thousand_non_images_skipped_quickly(
    big_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def counting_open(path: object, *args: object, **kwargs: object):  # noqa: ANN202
        opened.append(str(path))
        return open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(readers, "open", counting_open, raising=False)
    wall, cpu = time.perf_counter(), time.process_time()
    found = discover([big_folder])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert [p.name for p in found.files] == ["image_0.png", "image_1.png", "image_2.png"]
    assert found.skipped == N_FILES
    n_unknown = sum(1 for i in range(N_FILES) if i % 8 >= len(KNOWN))
    assert len(opened) == n_unknown  # only names that could be extension-less DICOM
    assert not any(Path(p).suffix in KNOWN for p in opened)
    assert cpu < CPU_BUDGET, f"discovery used {cpu:.1f} s CPU for {N_FILES} files"
    print(f"\n{N_FILES} non-images: {wall:.2f} s wall, {cpu:.2f} s CPU, {len(opened)} sniffed")


def test_cancel_stops_a_huge_walk_at_once(big_folder: Path) -> None:
    calls = iter(range(10**9))
    found = discover([big_folder, big_folder], cancel=lambda: next(calls) >= 1)
    assert found.cancelled and found.files == []
