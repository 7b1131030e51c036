"""The reviewer's decisions on whole cases: keys, the store, the summary's line.

Keys act while the case list has the focus (Ctrl+L goes there): Enter confirms the
model's verdict, 1-9 set the verdict as the slice keys set a class (the model's negative
class means "no tumour", any other "tumour suspected" of that class), 0 clears, N edits
the note. Decisions are saved at once in the slice decisions' file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.decisions import CaseDecision, DecisionStore, DecisionStoreError, now_iso
from desktop.core.verdict import Verdict
from desktop.ui.cases.model import CaseEntry, CaseListModel, entry_case_key
from desktop.ui.cases.panel import CasePanel


class CaseReview(QObject):
    """Connects the case panel and the decision store."""

    def __init__(
        self,
        window: QWidget,
        model: CaseListModel,
        panel: CasePanel,
        store: Callable[[], DecisionStore | None],
        notify: Callable[[str], None],
        problem: str = "",
    ) -> None:
        super().__init__(window)
        self.window, self.model, self.panel, self._store = window, model, panel, store
        self.notify = notify
        self.problem = problem
        model.decision_of = self.decision_of
        bar = panel.decision
        bar.verdict_chosen.connect(self.set_verdict)
        bar.confirm_requested.connect(self.confirm)
        bar.clear_requested.connect(self.clear)
        bar.note_committed.connect(self.set_note)
        panel.case_selected.connect(self.show)
        model.dataChanged.connect(self._on_model_changed)
        self.actions: list[QAction] = []
        names = panel.decision.buttons
        for i, button in enumerate(names):
            self._action(button.text(), [str(i + 1)], button.click)
        self._action("Confirm Case Verdict", ["Return", "Enter"], self.confirm)
        self._action("Clear Case Decision", ["0"], self.clear)
        self._action("Edit Case Note", ["N"], bar.edit_note)

    def _action(self, text: str, keys: list[str], slot: Callable[[], Any]) -> None:
        a = QAction(text, self.window)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.triggered.connect(slot)
        self.panel.view.addAction(a)
        self.actions.append(a)

    # -- reading ------------------------------------------------------------------------
    def decision_of(self, entry: CaseEntry) -> CaseDecision | None:
        store, key = self._store(), entry_case_key(entry)
        return store.get_case(key) if store is not None and key is not None else None

    def decisions(self) -> dict[tuple[str, str], CaseDecision]:
        store = self._store()
        return {d.key: d for d in store.all_cases()} if store is not None else {}

    def summary_text(self) -> str:
        """E.g. "2 of 3 cases have a reviewer's verdict: 1 confirmed, 1 overridden"."""
        entries = [e for e in self.model.entries() if not e.is_group]
        said = [d for e in entries if (d := self.decision_of(e)) and d.reviewer_verdict]
        if not entries:
            return ""
        text = f"{len(said):,} of {len(entries):,} case(s) have a reviewer's verdict"
        if not said:
            return text + "."
        agreed = sum(1 for d in said if d.agrees is True)
        overridden = sum(1 for d in said if d.agrees is False)
        other = len(said) - agreed - overridden
        parts = [f"{agreed:,} confirm the model's verdict", f"{overridden:,} override it"]
        if other:
            parts.append(f"{other:,} where the model had no firm verdict")
        return f"{text}: " + ", ".join(parts) + "."

    def show(self, entry: CaseEntry | None = None, keep_note: bool = False) -> None:
        entry = entry if entry is not None else self.panel.current_entry()
        why = self.problem if entry is not None and not entry.is_group else ""
        decision = self.decision_of(entry) if entry else None
        self.panel.decision.show_case(entry, decision, why, keep_note)

    def _on_model_changed(self, *_: object) -> None:
        # the current case's verdict may have changed as its slices arrived (a note
        # being typed stays as it is)
        self.show(keep_note=True)

    # -- writing ------------------------------------------------------------------------
    def _current(self) -> CaseEntry | None:
        e = self.panel.current_entry()
        if e is None or e.is_group or e.verdict is None or self._store() is None:
            return None
        return e

    def set_verdict(self, verdict: str, cls: str | None) -> None:
        e = self._current()
        if e is not None:
            old = self.decision_of(e)
            self._save(e, verdict, cls, old.note if old else "")

    def confirm(self) -> None:
        e = self._current()
        if e is None or e.verdict is None:
            return
        v = e.verdict
        if v.verdict not in (Verdict.TUMOUR_SUSPECTED, Verdict.NO_TUMOUR):
            self.notify("No firm case verdict to confirm - press 1-4 to give the case's verdict")
            return
        old = self.decision_of(e)
        self._save(e, v.verdict.value, v.suspected_class, old.note if old else "")

    def clear(self) -> None:
        e = self._current()
        old = self.decision_of(e) if e is not None else None
        if e is not None and old is not None:
            self._save(e, None, None, old.note)

    def set_note(self, text: str) -> None:
        e = self._current()
        if e is not None:
            old = self.decision_of(e)
            verdict, cls = (old.reviewer_verdict, old.reviewer_class) if old else (None, None)
            self._save(e, verdict, cls, text.strip())

    def _save(self, e: CaseEntry, verdict: str | None, cls: str | None, note: str) -> bool:
        store, key = self._store(), entry_case_key(e)
        if store is None or key is None or e.verdict is None:
            return False
        v = e.verdict
        d = CaseDecision(*key, verdict, cls, note, v.verdict.value, v.suspected_class)
        try:
            store.put_case(replace(d, reviewed_at=now_iso()))
        except DecisionStoreError as exc:
            QMessageBox.critical(self.window, "Decision not saved", str(exc))
            return False
        self.model.decisions_changed()
        self.show()
        return True
