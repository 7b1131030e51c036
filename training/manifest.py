"""The training vocabulary: labels, splits, sources, default paths, and the one manifest loader.

A split manifest (``training/splits/manifest.csv``, written by ``python -m training
split``) has the columns ``path,source,subset,label,cluster,split,sha256,content_hash,
conflict``; manifests of the volume sources add ``case,sequence,z`` (empty for the
others). Both shapes load here, into :class:`ManifestRow`.

Labels are encoded once: the four network classes by their index in
``model_spec.CLASS_NAMES``, the partial "a tumour of unknown type" label as
:data:`PARTIAL` (= 4, one past the classes; never a network output).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path

from desktop.core.model_spec import CLASS_NAMES

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT / ".." / "shared"
DEFAULT_MANIFEST = REPO_ROOT / "training" / "splits" / "manifest.csv"
DEFAULT_DATA_ROOT = SHARED / "data"
#: the bundled model, relative to the repository root (where the commands run)
DEFAULT_ONNX = Path("models/brain_tumor_effnet_lite0.onnx")
#: decoded-slice caches and derived weights (never in git); BRAIN_MRI_CACHE overrides
DEFAULT_CACHE_DIR = Path(
    os.environ.get("BRAIN_MRI_CACHE") or Path.home() / ".cache" / "brain_mri_review" / "training"
)
#: the sources of the original 2D sets, in the order tables list them (others follow, sorted)
SOURCES = ("sartaj", "figshare", "br35h")

K = len(CLASS_NAMES)
#: the one encoding of the partial label "tumour of unknown type" (not a network class)
PARTIAL = K
NO_TUMOR = CLASS_NAMES.index("no_tumor")


class _Name(str, Enum):
    """A str enum that prints (and formats) as its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Label(_Name):
    """Training labels. The first four are ``model_spec.CLASS_NAMES``; TUMOR is partial."""

    GLIOMA = "glioma"
    MENINGIOMA = "meningioma"
    NO_TUMOR = "no_tumor"
    PITUITARY = "pituitary"
    TUMOR = "tumor"

    @property
    def is_specific(self) -> bool:
        """True for the four network classes, False for the partial TUMOR label."""
        return self is not Label.TUMOR

    @property
    def is_tumour(self) -> bool:
        return self is not Label.NO_TUMOR

    @property
    def code(self) -> int:
        """Index into CLASS_NAMES; :data:`PARTIAL` for TUMOR."""
        return CLASS_NAMES.index(self.value) if self.is_specific else PARTIAL


#: label names by index (CLASS_NAMES, then the partial label)
LABELS: tuple[str, ...] = (*CLASS_NAMES, Label.TUMOR.value)


class Split(_Name):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"

    @classmethod
    def parse(cls, text: str) -> Split:
        """A split name as manifests write it ("validation" is an old spelling of "val")."""
        return cls.VAL if text == "validation" else cls(text)


def source_order(source: str) -> tuple[bool, int, str]:
    """Sort key: :data:`SOURCES` first in their order, then the others by name."""
    return (source not in SOURCES, SOURCES.index(source) if source in SOURCES else 0, source)


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row; ``path`` is relative to the data root, '/'-separated."""

    path: str
    source: str
    subset: str
    label: Label
    cluster: str
    split: Split
    sha256: str = ""
    content_hash: str = ""
    conflict: str = ""
    #: volume sources only (patient, MR sequence, axial index); "" elsewhere
    case: str = ""
    sequence: str = ""
    z: str = ""

    @property
    def label_index(self) -> int:
        """Index into CLASS_NAMES, or :data:`PARTIAL`."""
        return self.label.code

    def file(self, data_root: Path) -> Path:
        return Path(data_root).joinpath(*self.path.split("/"))


_REQUIRED = ("path", "source", "label", "split")
_FIELDS = {f.name for f in fields(ManifestRow)}


def read_manifest(path: Path) -> list[ManifestRow]:
    """Every row of a split manifest (old and new column sets); ValueError in words."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(_REQUIRED) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} lacks columns {sorted(missing)}")
        rows = []
        for i, r in enumerate(reader, 2):
            cols = {k: (v or "") for k, v in r.items() if k in _FIELDS}
            try:
                label, split = Label(cols.pop("label")), Split.parse(cols.pop("split"))
            except ValueError as exc:
                raise ValueError(f"{path}, line {i}: {exc}") from None
            rows.append(
                ManifestRow(label=label, split=split, **{"subset": "", "cluster": "", **cols})
            )
    return rows


def label_indices(rows: Sequence[ManifestRow]) -> list[int]:
    return [r.label_index for r in rows]


def counts(rows: Iterable[ManifestRow], *names: str) -> dict[str, int]:
    """Row counts keyed by the '/'-joined values of the fields ``names``."""
    out: dict[str, int] = {}
    for r in rows:
        key = "/".join(str(getattr(getattr(r, n), "value", getattr(r, n))) for n in names)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
