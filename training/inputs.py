"""What calibration, export and evaluation read: image files (as the app reads them) and
checkpoints.

Images go through :mod:`desktop.core.inference` only (the app's readers, then its
geometric + normalise step), so training has no decoding or preprocessing of its own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import file_sha256
from desktop.core.inference import NetInput, ReadError, Slice, prepare, prepare_batch, read_first
from desktop.core.model_spec import CLASS_NAMES, Preprocessing
from training.manifest import ManifestRow

__all__ = ["file_sha256", "iter_batches", "load_checkpoint", "prefetch", "read_grey", "read_slice"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def read_slice(path: Path, prep: Preprocessing | None = None) -> Slice | None:
    """The first slice of a file as the app reads it (for a model of ``prep``: a large JPEG
    at reduced size, :func:`desktop.core.preprocess.decode_target`); None (logged) when
    unreadable."""
    try:
        return read_first(Path(path), prep)
    except ReadError as exc:
        log.warning("cannot decode %s (%s); skipped", path, exc)
        return None


def read_grey(path: Path, prep: Preprocessing | None = None) -> NDArray[np.float32] | None:
    """:func:`read_slice`'s pixels (float32 grey in [0, 1]), or None."""
    s = read_slice(path, prep)
    return None if s is None else s.pixels


def read_inputs(
    rows: Sequence[ManifestRow], data_root: Path, prep: Preprocessing
) -> tuple[list[ManifestRow], list[NetInput]]:
    """(readable rows, their prepared network inputs), through the app's path."""
    kept, items = [], []
    for r in rows:
        s = read_slice(r.file(data_root), prep)
        if s is not None:
            kept.append(r)
            items.append(prepare(s.pixels, prep, s.colour))
    return kept, items


def iter_batches(
    rows: Sequence[ManifestRow], data_root: Path, prep: Preprocessing, batch_size: int = 64
) -> Iterator[tuple[list[ManifestRow], NDArray[np.float32]]]:
    """(rows, N x C x H x W) batches through the app's path; unreadable files skipped."""
    for start in range(0, len(rows), batch_size):
        chunk, items = read_inputs(rows[start : start + batch_size], data_root, prep)
        if chunk:
            yield chunk, prepare_batch(items, prep)


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` while a worker thread produces the next ``depth`` of them.

    Decoding (Pillow, NumPy) releases the GIL, so it overlaps with onnxruntime.
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
