"""Cases in the window: the table's rows grouped by case, with each case's verdict.

The verdict is :func:`desktop.core.verdict.case_verdict` with the loaded model's
``CaseRule`` (no rule of its own here). It follows the results model's row signals and
recounts only the cases whose rows changed, when the counts are asked for: cheap with
thousands of rows arriving in chunks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QModelIndex, QObject, Signal

from desktop.core.model_spec import CaseRule
from desktop.core.results import SliceResult
from desktop.core.verdict import CaseVerdict, Verdict, case_verdict
from desktop.ui.table.model import ResultsModel

#: how the status bar names the verdicts
VERDICT_WORDS = {v: v.value.replace("_", " ") for v in Verdict}


def case_key(r: SliceResult) -> str:
    """The case a row belongs to (a row without a case id is a case of its own file)."""
    return r.case or r.path


class CaseCounts(QObject):
    """Per-case slices and verdicts of a :class:`ResultsModel`, kept up to date."""

    #: the cases (set[str]) a recount changed, whoever asked for it
    recounted = Signal(object)

    def __init__(
        self,
        model: ResultsModel,
        class_names: Sequence[str],
        rule: CaseRule,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.class_names = tuple(class_names)
        self.rule = rule
        #: case -> (path, frame) -> result
        self._slices: dict[str, dict[tuple[str, int], SliceResult]] = {}
        self._verdicts: dict[str, CaseVerdict] = {}
        self._dirty: set[str] = set()
        model.rowsInserted.connect(self._on_inserted)
        model.rowsAboutToBeRemoved.connect(self._on_removing)
        model.modelReset.connect(self._on_reset)
        self._on_reset()

    def _results(self, first: int, last: int) -> Iterable[SliceResult]:
        return (self.model.row_at(i).result for i in range(first, last + 1))

    def _on_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        for r in self._results(first, last):
            key = case_key(r)
            self._slices.setdefault(key, {})[(r.path, r.frame)] = r
            self._dirty.add(key)

    def _on_removing(self, _parent: QModelIndex, first: int, last: int) -> None:
        for r in self._results(first, last):
            key = case_key(r)
            rows = self._slices.get(key)
            if rows is not None:
                rows.pop((r.path, r.frame), None)
                self._dirty.add(key)
                if not rows:
                    del self._slices[key]

    def _on_reset(self) -> None:
        self._slices.clear()
        self._verdicts.clear()
        self._dirty.clear()
        if self.model.rowCount():
            self._on_inserted(QModelIndex(), 0, self.model.rowCount() - 1)

    def recount(self) -> set[str]:
        """Recount the cases whose rows changed since the last recount; those cases
        (a case without rows any more has no verdict now)."""
        changed = self._dirty
        for key in changed:
            rows = self._slices.get(key)
            if rows:
                self._verdicts[key] = case_verdict(rows.values(), self.class_names, self.rule)
            else:
                self._verdicts.pop(key, None)
        self._dirty = set()
        if changed:
            self.recounted.emit(changed)
        return changed

    def mark(self, key: str) -> None:
        """Have the next recount recount ``key`` (a listener that came late)."""
        self._dirty.add(key)

    def verdict(self, key: str) -> CaseVerdict | None:
        """The verdict of one case as of the last recount."""
        return self._verdicts.get(key)

    def results(self, key: str) -> list[SliceResult]:
        """The case's slice results (any order)."""
        return list(self._slices.get(key, {}).values())

    def case_keys(self) -> list[str]:
        """The cases, in the order their first row arrived."""
        return list(self._slices)

    def verdict_counts(self) -> Counter[Verdict]:
        """How many cases have each verdict (recounting only the changed cases)."""
        self.recount()
        return Counter(v.verdict for v in self._verdicts.values())

    def __len__(self) -> int:
        return len(self._slices)

    def text(self) -> str:
        """E.g. "3 cases: 1 tumour suspected, 2 no tumour" ("" without rows)."""
        counts = self.verdict_counts()
        n = sum(counts.values())
        if not n:
            return ""
        words = [f"{counts[v]:,} {VERDICT_WORDS[v]}" for v in Verdict if counts[v]]
        return f"{n:,} case{'s' if n != 1 else ''}: " + ", ".join(words)
