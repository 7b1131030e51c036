"""Reading a file again after it was classified (preview, thumbnails), checked by hash.

A file may be overwritten after its rows were made: showing the new picture beside the
old verdict and heat map, or saving a review decision for it, would be wrong without a
word. Every re-read compares the file's sha256 with the one its rows carry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from desktop.core.readers import ReadError, Slice, load_bytes, open_file

FILE_CHANGED = "file changed since it was classified"


class FileChanged(ReadError):
    """The file's bytes are not the ones that were classified."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(FILE_CHANGED)
        self.path = str(path)


def reread(path: str | Path, sha256: str | None, frames: set[int] | None = None) -> list[Slice]:
    """The slices of ``path`` (only ``frames``, if given, stopping once all are read).

    Raises :class:`FileChanged` if the file's sha256 is not ``sha256`` (None: a row that
    never had a hash, nothing to compare) and ReadError if it cannot be read.
    """
    data = load_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise FileChanged(path)
    out: list[Slice] = []
    for s in open_file(path, data):
        if frames is None or s.frame in frames:
            out.append(s)
            if frames is not None and len(out) == len(frames):
                break
    return out
