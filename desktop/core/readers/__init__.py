"""Readers: one small reader per format behind one interface.

``read_slices(path)`` yields :class:`Slice` records (grey float32 in [0, 1]);
``open_file(path)`` does the same and also reports what was skipped (empty NIfTI
slices). Any failure is a :class:`ReadError` whose text a person understands.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from pathlib import Path

from desktop.core.readers.common import (
    DecodeTarget,
    ReadError,
    Slice,
    UnsupportedFile,
    load_bytes,
)
from desktop.core.readers.images import EXTENSIONS as IMAGE_EXTENSIONS
from desktop.core.readers.images import image_format, other_image_format, read_image

__all__ = [
    "DecodeTarget",
    "FileKind",
    "ReadError",
    "Slice",
    "SliceSource",
    "UnsupportedFile",
    "kind_of",
    "load_bytes",
    "open_file",
    "read_slices",
    "sniff",
]

DICOM_EXTENSIONS = frozenset({".dcm", ".dicom", ".dic", ".ima"})
NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: extensions that are never images: not even opened when walking folders (DICOM files
#: often have no extension or a numeric one, so unknown extensions are sniffed)
# fmt: off
NOT_IMAGES = frozenset({
    ".txt", ".csv", ".tsv", ".json", ".xml", ".html", ".htm", ".md", ".rst", ".log", ".ini",
    ".cfg", ".yaml", ".yml", ".toml", ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt",
    ".pptx", ".odt", ".rtf", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar",
    ".py", ".pyc", ".js", ".css", ".sh", ".bat", ".exe", ".dll", ".so", ".dylib", ".db",
    ".sqlite", ".mp3", ".wav", ".mp4", ".avi", ".mov", ".mkv", ".gif", ".webp", ".svg",
    ".ico", ".heic", ".psd", ".onnx", ".pt", ".pth", ".npy", ".npz", ".h5", ".mat", ".lnk",
    ".ds_store", ".tmp", ".bak", ".part", ".crdownload",
})
# fmt: on
#: bytes needed to recognise any supported format from its content
HEAD_BYTES = 132


class FileKind(str, Enum):
    IMAGE = "image"
    DICOM = "dicom"
    NIFTI = "nifti"


def _is_nifti_name(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def kind_of(path: str | Path, head: bytes) -> FileKind | None:
    """The kind of file from its first bytes (content first, then the name)."""
    p = Path(path)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileKind.DICOM
    if image_format(head) is not None:
        return FileKind.IMAGE
    if _is_nifti_name(p):
        return FileKind.NIFTI
    if p.suffix.lower() in DICOM_EXTENSIONS:
        return FileKind.DICOM  # DICOM without the preamble (read with force)
    return None


def sniff(path: str | Path) -> bool:
    """True when the file looks like a supported image (by extension or content)."""
    p = Path(path)
    if p.suffix.lower() in IMAGE_EXTENSIONS or p.suffix.lower() in DICOM_EXTENSIONS:
        return True
    if _is_nifti_name(p):
        return True
    if p.suffix.lower() in NOT_IMAGES:
        return False  # no need to open it (folders may hold many thousands of these)
    try:
        with open(p, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return False
    return kind_of(p, head) is not None


class SliceSource:
    """The slices of one file; iterate once. ``skipped_empty`` is final after iterating.

    ``target``: what the network needs, so that a large JPEG is decoded at reduced size
    (:class:`DecodeTarget`); None decodes every file whole.
    """

    def __init__(
        self, path: str | Path, data: bytes | None = None, target: DecodeTarget | None = None
    ) -> None:
        self.path = Path(path)
        self.target = target
        self.data = load_bytes(self.path) if data is None else data
        if not self.data:
            raise ReadError("empty file (0 bytes)")
        kind = kind_of(self.path, self.data[:HEAD_BYTES])
        if kind is None:
            other = other_image_format(self.data[:HEAD_BYTES])
            if other is not None:
                raise UnsupportedFile(f"unsupported image format ({other})")
            raise ReadError("not an image file")
        self.kind: FileKind = kind
        #: NIfTI slices that were all background, skipped and not classified
        self.skipped_empty = 0

    def __iter__(self) -> Iterator[Slice]:
        if self.kind is FileKind.IMAGE:
            fmt = image_format(self.data[:HEAD_BYTES])
            assert fmt is not None
            yield from read_image(self.data, fmt, self.target)
        elif self.kind is FileKind.DICOM:
            from desktop.core.readers.dicom import read_dicom

            yield from read_dicom(self.data, force=self.data[128:132] != b"DICM")
        else:
            from desktop.core.readers.nifti import read_nifti

            yield from read_nifti(self.data, self)


def open_file(
    path: str | Path, data: bytes | None = None, target: DecodeTarget | None = None
) -> SliceSource:
    """Open a file (or its already-read bytes). Raises ReadError for the whole file."""
    return SliceSource(path, data, target)


def read_slices(path: str | Path, target: DecodeTarget | None = None) -> Iterator[Slice]:
    """The slices of a file, in order. Raises ReadError for the whole file."""
    yield from open_file(path, target=target)
