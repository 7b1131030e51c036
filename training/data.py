"""Index folders of labelled MRI slices into frozen records.

A *root* is a folder such as ``../shared/data/sartaj`` whose descendants include
class-named folders (``glioma_tumor``, ``notumor``, ``yes`` ...). Every image file in a
class folder becomes one :class:`Record`:

* ``path``: absolute path of the file;
* ``rel_path``: POSIX path relative to the *data root* (the root's parent folder),
  e.g. ``sartaj/Training/glioma_tumor/gg (1).jpg``; this is what the manifest stores;
* ``label``: a :class:`Label`; :attr:`Label.TUMOR` is a *partial* label ("some tumour,
  type unknown", Br35H ``yes``), never a fifth network class: train it with
  ``-log(1 - p_no_tumor)``;
* ``source``: the root folder's name (``sartaj``, ``figshare``, ``br35h``);
* ``subset``: the folders between the root and the class folder joined with ``/``
  (``Training`` / ``Testing`` for Sartaj, ``""`` when there are none).

These field names are a contract with :mod:`training.split` (manifest columns) and the
trainer; keep them stable.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import file_sha256 as file_sha256  # one implementation
from desktop.core.inference import ReadError, read_first
from desktop.core.model_spec import Preprocessing
from training.manifest import Label as Label  # re-exported: index records carry it

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


FOLDER_LABELS: dict[str, Label] = {
    "glioma_tumor": Label.GLIOMA,
    "glioma": Label.GLIOMA,
    "meningioma_tumor": Label.MENINGIOMA,
    "meningioma": Label.MENINGIOMA,
    "no_tumor": Label.NO_TUMOR,
    "notumor": Label.NO_TUMOR,
    "no": Label.NO_TUMOR,
    "pituitary_tumor": Label.PITUITARY,
    "pituitary": Label.PITUITARY,
    "tumor_unspecified": Label.TUMOR,
    "yes": Label.TUMOR,
    "tumor": Label.TUMOR,
}


def labels_conflict(labels: Iterable[Label]) -> bool:
    """True if the labels cannot all be right: no_tumor with a tumour, or 2 tumour types.

    The partial TUMOR label agrees with every specific tumour type.
    """
    s = set(labels)
    if Label.NO_TUMOR in s and len(s) > 1:
        return True
    return len({x for x in s if x.is_specific and x is not Label.NO_TUMOR}) > 1


def label_for_folder(name: str) -> Label | None:
    """The label a class folder name stands for (case-insensitive), or None."""
    return FOLDER_LABELS.get(name.strip().lower())


@dataclass(frozen=True)
class Record:
    """One labelled slice file (see the module docstring for the fields)."""

    path: Path
    rel_path: str
    label: Label
    source: str
    subset: str = ""
    #: volume sources only (empty for loose slices): patient id, MRI sequence, axial index
    case: str = ""
    sequence: str = ""
    z: str = ""


#: sources whose slices are skull-stripped (no skull-strip augmentation for them)
SKULL_STRIPPED_SOURCES = frozenset({"brats2018", "openneuro_ds002748"})

#: a source folder with this file lists its slices with patient ids (volume sources)
VOLUME_MANIFEST = "manifest.csv"


def index_volume_root(root: Path) -> list[Record]:
    """The slices listed in ``root/manifest.csv`` (``file,label,case,sequence,z,...``)."""
    import csv

    root = Path(root).resolve()
    records: list[Record] = []
    with open(root / VOLUME_MANIFEST, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            file = root.joinpath(*row["file"].split("/"))
            label = label_for_folder(row["label"])
            if label is None:
                raise ValueError(f"{root / VOLUME_MANIFEST}: unknown label {row['label']!r}")
            records.append(
                Record(
                    path=file,
                    rel_path=file.relative_to(root.parent).as_posix(),
                    label=label,
                    source=root.name,
                    subset="",
                    case=row["case"],
                    sequence=row.get("sequence", ""),
                    z=row.get("z", ""),
                )
            )
    return sorted(records, key=lambda r: r.rel_path)


def index_root(root: Path) -> list[Record]:
    """Every image under a class-named folder below ``root``, sorted by path.

    A root with a ``manifest.csv`` (a volume source) is indexed from it instead, so its
    records carry the patient (``case``), ``sequence`` and ``z``.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a folder")
    if (root / VOLUME_MANIFEST).is_file():
        return index_volume_root(root)
    records: list[Record] = []
    for file in sorted(root.rglob("*")):
        if not file.is_file() or file.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        label = label_for_folder(file.parent.name)
        if label is None:
            continue
        subset = "/".join(file.parent.parent.relative_to(root).parts)
        records.append(
            Record(
                path=file,
                rel_path=file.relative_to(root.parent).as_posix(),
                label=label,
                source=root.name,
                subset=subset,
            )
        )
    return records


def index_roots(roots: Iterable[Path]) -> list[Record]:
    """Records of several roots; raises if two roots share a name (sources must differ)."""
    out: list[Record] = []
    seen: set[str] = set()
    for root in roots:
        name = Path(root).resolve().name
        if name in seen:
            raise ValueError(f"two data roots are both called {name!r}")
        seen.add(name)
        out.extend(index_root(Path(root)))
    return out


def default_roots(data_root: Path) -> list[Path]:
    """The sub-folders of ``data_root`` (each one a source), sorted by name."""
    return sorted(p for p in Path(data_root).iterdir() if p.is_dir() and not p.name.startswith("."))


def read_grey(path: Path, prep: Preprocessing | None = None) -> NDArray[np.float32] | None:
    """The file's first slice as the app decodes it (float32 grey in [0, 1]; for a model of
    ``prep``: a large JPEG at reduced size, as the app's pipeline decodes it); None (logged)
    if unreadable (:func:`desktop.core.inference.read_first`)."""
    try:
        return read_first(path, prep).pixels
    except ReadError as exc:
        log.warning("cannot decode %s (%s); dropped", path, exc)
        return None


def pixel_hash(grey: NDArray[np.floating]) -> str:
    """Exact content hash of decoded grey pixels (shape + 8-bit values), 16 hex digits."""
    q = np.clip(np.rint(np.asarray(grey) * 255.0), 0, 255).astype(np.uint8)
    h = hashlib.sha256(f"{q.shape[0]}x{q.shape[1]}:".encode())
    h.update(np.ascontiguousarray(q).tobytes())
    return h.hexdigest()[:16]


def count_by(records: Sequence[Record], *fields: str) -> dict[str, int]:
    """Counts keyed by the '/'-joined values of ``fields`` (e.g. 'source', 'label')."""
    out: dict[str, int] = {}
    for r in records:
        key = "/".join(str(getattr(getattr(r, f), "value", getattr(r, f))) for f in fields)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
