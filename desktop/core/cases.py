"""Cases: what a person reviews. A DICOM series, a NIfTI volume, a multi-frame file, or
one image; slices are its parts, numbered in anatomical order.

:func:`plan_cases` groups the files to classify into cases before any pixel is read:

* single-frame DICOM files sharing a SeriesInstanceUID are one case, wherever they lie;
  their slices are ordered along the slice normal (the cross product of the
  ImageOrientationPatient row and column directions) by the ImagePositionPatient,
  else (a position or orientation missing, or orientations that differ, as in a
  three-plane localizer) by InstanceNumber, else by file name; the case's ``path`` is
  the folder holding the series (the deepest folder common to its files);
* a NIfTI volume is one case; its slice index is the axial index after reorientation
  to the closest canonical (RAS+) orientation, 0 = most inferior (empty background
  slices are skipped but keep their place in the numbering);
* a multi-frame file (DICOM with NumberOfFrames > 1, multi-page TIFF) is one case;
  its slice index is the frame index;
* any other file (and a DICOM file without a SeriesInstanceUID) is a case of its own.

Case ids are short names a person reads (file name; the series' folder name, with
"series N" when a folder holds several series), made unique within one plan by
prefixing parent folders. The DICOM series UID is never part of an id or an export.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from desktop.core.readers import DICOM_EXTENSIONS, HEAD_BYTES, NIFTI_SUFFIXES, FileKind, kind_of
from desktop.core.readers.images import EXTENSIONS as IMAGE_EXTENSIONS
from desktop.core.readers.images import tiff_pages
from desktop.core.readers.series import DicomGeometry, dicom_geometry

#: two orientations closer than this (cosine components) count as the same
_SAME_ORIENTATION = 1e-3


class CaseKind(str, Enum):
    """What a case is made of. The values are what exports write."""

    DICOM_SERIES = "dicom_series"
    NIFTI_VOLUME = "nifti_volume"
    MULTIFRAME = "multiframe"
    IMAGE = "image"


@dataclass(frozen=True)
class Case:
    """One case: its id, what it is, and its files in anatomical order."""

    id: str
    #: the volume file, the multi-frame file, the image, or the folder holding the series
    #: (absolute, resolved)
    path: str
    kind: CaseKind
    #: the files as given (a series: in anatomical order; else one file)
    files: tuple[str, ...]
    #: a DICOM series' SeriesInstanceUID ("" otherwise): with ``path``, what keys the
    #: reviewer's case decision (a folder may hold several series); never exported
    series_uid: str = field(default="", repr=False)


@dataclass
class CasePlan:
    """The cases of a set of files, and the order in which to read those files."""

    cases: list[Case] = field(default_factory=list)
    #: the files to read: as given, except that a series' files come together, in
    #: anatomical order, where the first of them was
    files: list[Path] = field(default_factory=list)
    #: str(file) -> (case id, slice index of its first frame)
    _where: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: True when ``cancel`` stopped the planning early (``files`` is then incomplete)
    cancelled: bool = False

    def locate(self, path: str, frame: int) -> tuple[str, int]:
        """(case id, slice index) of one slice; a file not planned is a case of its own."""
        case, base = self._where.get(path, (path, 0))
        return case, base + frame

    def case(self, case_id: str) -> Case | None:
        for c in self.cases:
            if c.id == case_id:
                return c
        return None


def _resolved(path: str | Path) -> str:
    p = Path(path)
    try:
        return str(p.resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(p)


def _probe(path: Path) -> tuple[FileKind | None, bool]:
    """(kind, needs force) from the name, opening the file only when the name says nothing."""
    name = path.name.lower()
    suffix = path.suffix.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return FileKind.NIFTI, False
    if suffix in IMAGE_EXTENSIONS:
        return FileKind.IMAGE, False
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None, False
    kind = kind_of(path, head)
    force = kind is FileKind.DICOM and head[128:132] != b"DICM" and suffix in DICOM_EXTENSIONS
    return kind, force


def _multipage_tiff(path: Path) -> bool:
    """True for a TIFF with more than one page (only its page directories are read)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return False
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return len(tiff_pages(m)) > 1  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - unreadable or empty: the pipeline reports it as a row
        return False


def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    return np.asarray(np.cross(row, col), dtype=np.float64)


def order_series(members: list[tuple[Path, DicomGeometry]]) -> list[Path]:
    """A series' files in anatomical order (see the module text for the rule)."""
    geos = [g for _, g in members]
    first = geos[0].orientation
    by_position = first is not None and all(
        g.position is not None
        and g.orientation is not None
        and max(abs(a - b) for a, b in zip(g.orientation, first, strict=True)) < _SAME_ORIENTATION
        for g in geos
    )
    if by_position:
        assert first is not None
        normal = _normal(first)

        def along(item: tuple[Path, DicomGeometry]) -> tuple[float, int, str]:
            g = item[1]
            assert g.position is not None
            inst = g.instance_number if g.instance_number is not None else 0
            return float(np.dot(normal, g.position)), inst, item[0].name

        return [p for p, _ in sorted(members, key=along)]
    if all(g.instance_number is not None for g in geos):
        return [p for p, _ in sorted(members, key=lambda m: (m[1].instance_number, m[0].name))]
    return [p for p, _ in sorted(members, key=lambda m: _natural(m[0].name))]


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """IM2 before IM10 (digits compared as numbers)."""
    parts: list[tuple[int, int | str]] = []
    num = ""
    text = ""
    for ch in name:
        if ch.isdigit():
            if text:
                parts.append((1, text.lower()))
                text = ""
            num += ch
        else:
            if num:
                parts.append((0, int(num)))
                num = ""
            text += ch
    if num:
        parts.append((0, int(num)))
    if text:
        parts.append((1, text.lower()))
    return tuple(parts)


def _series_folder(files: list[Path]) -> str:
    folders = {os.path.dirname(_resolved(f)) for f in files}
    return folders.pop() if len(folders) == 1 else os.path.commonpath(sorted(folders))


def _unique_ids(names: list[tuple[str, str]], taken: set[str]) -> list[str]:
    """Ids from (name, path), unique and not in ``taken`` (which they are added to):
    clashing names get parent folders in front (up to four), then `` #k``."""
    ids = [n for n, _ in names]
    for depth in range(1, 5):
        counts: dict[str, int] = {}
        for i in ids:
            counts[i] = counts.get(i, 0) + 1
        clashing = [k for k, i in enumerate(ids) if counts[i] > 1 or i in taken]
        if not clashing:
            break
        for k in clashing:
            name, path = names[k]
            p = Path(path)
            parents = p.relative_to(p.anchor).parts[:-1] if p.anchor else p.parts[:-1]
            prefix = "/".join(parents[-depth:])
            ids[k] = f"{prefix}/{name}" if prefix else name
    out = []
    for i in ids:
        j, n = i, 1
        while j in taken:
            n += 1
            j = f"{i} #{n}"
        taken.add(j)
        out.append(j)
    return out


def plan_cases(
    files: Iterable[str | Path],
    cancel: Callable[[], bool] = lambda: False,
    taken: set[str] | None = None,
) -> CasePlan:
    """Group ``files`` into cases (reads DICOM headers only; never raises for a bad file).

    ``taken``: case ids already in use (earlier drops in the same window); the new ids
    avoid them and are added to it.

    Every file given keeps its place in :attr:`CasePlan.files`, except single-frame
    DICOM files of one series, which move together to where the first of them was.
    """
    paths = [Path(f) for f in files]
    plan = CasePlan()
    # one entry per slot of the output order: a Path, or a series uid (filled in later)
    slots: list[Path | str] = []
    series: dict[str, list[tuple[Path, DicomGeometry]]] = {}
    file_cases: dict[str, tuple[Path, CaseKind]] = {}  # str(path) -> case of its own
    for p in paths:
        if cancel():
            plan.cancelled = True
            break
        kind, force = _probe(p)
        if kind is FileKind.DICOM:
            geo = dicom_geometry(p, force)
            if geo is not None and geo.series_uid and geo.frames == 1:
                if geo.series_uid not in series:
                    series[geo.series_uid] = []
                    slots.append(geo.series_uid)
                series[geo.series_uid].append((p, geo))
                continue
            multi = geo is not None and geo.frames > 1
            case_kind = CaseKind.MULTIFRAME if multi else CaseKind.IMAGE
        elif kind is FileKind.NIFTI:
            case_kind = CaseKind.NIFTI_VOLUME
        else:
            case_kind = CaseKind.MULTIFRAME if _multipage_tiff(p) else CaseKind.IMAGE
        file_cases.setdefault(str(p), (p, case_kind))
        slots.append(p)

    # names first (ids need all of them to be unique), then the cases in slot order
    series_order = {uid: order_series(m) for uid, m in series.items()}
    series_folder = {uid: _series_folder(fs) for uid, fs in series_order.items()}
    per_folder: dict[str, int] = {}
    for folder in series_folder.values():
        per_folder[folder] = per_folder.get(folder, 0) + 1
    named: list[tuple[str, tuple[str, str]]] = []  # (key, (name, path))
    for uid, folder in series_folder.items():
        name = Path(folder).name or folder
        if per_folder[folder] > 1:
            number = series[uid][0][1].series_number
            name += f" (series {number})" if number is not None else f" (series {len(named) + 1})"
        named.append((uid, (name, folder)))
    for key, (p, _) in file_cases.items():
        named.append((key, (p.name, _resolved(p))))
    ids = dict(
        zip(
            (k for k, _ in named),
            _unique_ids([n for _, n in named], set() if taken is None else taken),
            strict=True,
        )
    )

    made: set[str] = set()
    for slot in slots:
        if isinstance(slot, str):  # a series
            ordered = series_order[slot]
            case = Case(
                ids[slot],
                series_folder[slot],
                CaseKind.DICOM_SERIES,
                tuple(str(f) for f in ordered),
                slot,
            )
            plan.cases.append(case)
            for index, f in enumerate(ordered):
                plan._where.setdefault(str(f), (case.id, index))
            plan.files.extend(ordered)
            continue
        key = str(slot)
        if key not in made:
            made.add(key)
            p, case_kind = file_cases[key]
            case = Case(ids[key], _resolved(p), case_kind, (key,))
            plan.cases.append(case)
            plan._where[key] = (case.id, 0)
        plan.files.append(slot)
    return plan
