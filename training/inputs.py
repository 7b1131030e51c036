"""What calibration, export and evaluation read: the manifest, image files, checkpoints.

Images are decoded the way the app decodes them (``desktop.core.readers`` when it
exists, otherwise OpenCV grey / 255) and turned into network input only by
``desktop.core.preprocess``; nothing here has its own preprocessing.
"""

from __future__ import annotations

import csv
import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import file_sha256  # noqa: F401  (one implementation)
from desktop.core.model_spec import CLASS_NAMES, Preprocessing
from desktop.core.preprocess import to_batch

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the partial label ("a tumour of unknown type"); never a network class
PARTIAL_TUMOR = "tumor"
NO_TUMOR_INDEX = CLASS_NAMES.index("no_tumor")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = REPO_ROOT / "training" / "splits" / "manifest.csv"
DEFAULT_DATA_ROOT = REPO_ROOT / ".." / "shared" / "data"


@dataclass(frozen=True)
class ManifestRow:
    """One row of ``training/splits/manifest.csv``."""

    path: str
    source: str
    subset: str
    label: str
    cluster: str
    split: str
    sha256: str = ""
    content_hash: str = ""

    @property
    def label_index(self) -> int:
        """Index into CLASS_NAMES, or -1 for the partial ``tumor`` label."""
        return CLASS_NAMES.index(self.label) if self.label in CLASS_NAMES else -1


def read_manifest(path: Path) -> list[ManifestRow]:
    """All rows of a split manifest (CSV with a header)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [
            ManifestRow(**{k: (v or "") for k, v in r.items() if k in ManifestRow.__annotations__})
            for r in reader
        ]
    unknown = {r.label for r in rows} - set(CLASS_NAMES) - {PARTIAL_TUMOR}
    if unknown:
        raise ValueError(f"manifest {path} has unknown labels {sorted(unknown)}")
    return rows


def read_grey(path: Path) -> NDArray[np.float32] | None:
    """The first slice of a file as float32 grey in [0, 1], decoded as the app decodes it.

    Uses ``desktop.core.readers`` (the app's readers); OpenCV grey / 255 if that package
    is missing. None (logged) when the file cannot be read.
    """
    try:
        from desktop.core.readers import ReadError, read_slices
    except ImportError:
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None or img.size == 0:
            log.warning("cannot decode %s; skipped", path)
            return None
        return img.astype(np.float32) / 255.0
    try:
        for sl in read_slices(Path(path)):
            return np.asarray(sl.pixels, dtype=np.float32)
    except (ReadError, OSError) as exc:
        log.warning("cannot decode %s (%s); skipped", path, exc)
    return None


def iter_batches(
    rows: Sequence[ManifestRow], data_root: Path, prep: Preprocessing, batch_size: int = 64
) -> Iterator[tuple[list[ManifestRow], NDArray[np.float32]]]:
    """(rows, N x C x H x W) batches through the app's to_batch; unreadable files skipped."""
    for start in range(0, len(rows), batch_size):
        chunk, slices = [], []
        for r in rows[start : start + batch_size]:
            g = read_grey(Path(data_root) / r.path)
            if g is not None:
                chunk.append(r)
                slices.append(g)
        if chunk:
            yield chunk, to_batch(slices, prep)


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` while a worker thread produces the next ``depth`` of them.

    Decoding (OpenCV, NumPy) releases the GIL, so it overlaps with onnxruntime.
    """
    q: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)

    def work() -> None:
        try:
            for it in items:
                q.put((True, it))
            q.put((False, None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            q.put((False, exc))

    threading.Thread(target=work, daemon=True).start()
    while True:
        ok, it = q.get()
        if not ok:
            if it is not None:
                raise it
            return
        yield it


def load_checkpoint(path: Path) -> tuple[Any, Preprocessing, dict[str, Any]]:
    """(model in eval mode, its Preprocessing, the raw checkpoint dict)."""
    import torch

    from training.models import create_model

    ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    arch = str(ckpt.get("arch") or _arg(ckpt.get("args"), "arch"))
    model = create_model(arch, num_classes=len(CLASS_NAMES))
    state = ckpt["model"]
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    model.load_state_dict(state)
    model.eval()
    prep = ckpt["preprocessing"]
    prep = prep if isinstance(prep, Preprocessing) else Preprocessing(**dict(prep))
    ckpt.setdefault("arch", arch)
    return model, prep, ckpt


def _arg(args: Any, name: str) -> Any:
    return args.get(name) if isinstance(args, dict) else getattr(args, name, None)


def counts(rows: Iterable[ManifestRow], *fields: str) -> dict[str, int]:
    """Row counts keyed by the '/'-joined values of ``fields``."""
    out: dict[str, int] = {}
    for r in rows:
        key = "/".join(str(getattr(r, f)) for f in fields)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
