"""Rows kept the way the results table keeps them, for the memory run (imports Qt).

Each pipeline row becomes a ``ResultRow`` (thumbnail as QImage, made as the worker
makes it) and goes into a real :class:`desktop.ui.table.model.ResultsModel` in
chunks, so the bounded thumbnail cache and everything a row holds are counted.
Qt needs no application object for this (no widgets, no re-makes are triggered).
"""

from __future__ import annotations

from dataclasses import replace

from desktop.core.results import SliceResult
from desktop.ui.table.model import ResultRow, ResultsModel
from desktop.ui.table.thumbnails import ThumbnailCache
from desktop.ui.worker import to_row


class TableRows:
    """Appends rows to a ResultsModel in chunks of ``chunk`` (as the worker's chunks)."""

    def __init__(self, chunk: int = 50, cache_limit: int | None = None) -> None:
        cache = ThumbnailCache(limit=cache_limit) if cache_limit else None
        self.model = ResultsModel(thumbnails=cache)
        self.chunk = chunk
        self._pending: list[ResultRow] = []

    def __call__(self, row: SliceResult) -> None:
        # the benchmark cycles its files: each row gets its own (path, frame) key, as
        # distinct files would, so the thumbnail cache fills as in a real run
        row = replace(row, frame=len(self))
        self._pending.append(to_row(row))
        if len(self._pending) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.model.append_rows(self._pending)
        self._pending = []

    def __len__(self) -> int:
        return self.model.rowCount() + len(self._pending)

    def array_bytes_per_row(self) -> float:
        """Bytes of arrays and images a kept row holds, the shared cache included."""
        n = max(1, len(self))
        images = sum(
            img.sizeInBytes()
            for i in range(self.model.rowCount())
            if (img := self.model.thumbnail_at(i)) is not None
        )
        cams = sum(r.cam.nbytes for r in self.model.results() if r.cam is not None)
        return (images + cams) / n
