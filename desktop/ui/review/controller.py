"""Reviewer decisions in the window: keyboard actions, the store, settings, the summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.decisions import (
    Decision,
    DecisionStore,
    DecisionStoreError,
    Key,
    key_of,
    model_call,
)
from desktop.core.reread import FILE_CHANGED
from desktop.core.results import SliceResult, Status
from desktop.ui.review.panel import ReviewPanel
from desktop.ui.table.model import ResultsModel
from desktop.ui.table.proxy import ResultsProxy
from desktop.ui.table.widgets import ResultsTable
from desktop.ui.vocabulary import class_label

ADVANCE_KEY = "review/advance_after_decision"
IDENTIFIERS_KEY = "export/include_patient_identifiers"
PHI_WARNING = (
    "Exports will contain the DICOM patient ID and study date of every DICOM row.\n\n"
    "These are patient identifiers: store and share such files only as your "
    "institution allows. This lasts until the app is closed; switch it off sooner in "
    "the File menu."
)


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else the app's one user-data folder (``$BRAIN_MRI_REVIEW_DATA_DIR``,
    else the platform's local data folder): decisions, settings and logs side by side."""
    if data_dir is not None:
        return Path(data_dir)
    from desktop.logging_setup import data_dir as app_data_dir

    return app_data_dir()


class ReviewController(QObject):
    """Connects table, review panel and :class:`DecisionStore`; owns the review actions."""

    #: exports now include patient identifiers (True) or not (for this session only)
    identifiers_changed = Signal(bool)

    def __init__(
        self,
        window: QWidget,
        model: ResultsModel,
        proxy: ResultsProxy,
        table: ResultsTable,
        panel: ReviewPanel,
        notify: Callable[[str], None],
        data_dir: str | Path | None = None,
    ) -> None:
        super().__init__(window)
        self.window, self.model, self.proxy, self.table, self.panel = (
            window,
            model,
            proxy,
            table,
            panel,
        )
        self.notify = notify
        self.data_dir = resolve_data_dir(data_dir)
        self.settings = QSettings(str(self.data_dir / "settings.ini"), QSettings.Format.IniFormat)
        self.store: DecisionStore | None = None
        self.summary_dialog: QWidget | None = None
        #: the cases line of the summary (set by the window: its case counts)
        self.cases_text: Callable[[], str] = lambda: ""
        #: the reviewer's case decisions in a line (set by the window: its case review)
        self.case_decisions_text: Callable[[], str] = lambda: ""
        self.problem = ""
        #: (path, sha256) of rows whose file changed since it was classified: no review
        self.changed: set[tuple[str, str | None]] = set()
        try:
            self.store = DecisionStore(self.data_dir)
        except DecisionStoreError as exc:
            self.problem = str(exc)
            notify(f"Reviewer decisions are off: {exc}")
        model.decision_source = self.decision_for_key
        self._build_actions()
        panel.class_chosen.connect(self.set_class)
        panel.confirm_requested.connect(self.confirm)
        panel.clear_requested.connect(self.clear)
        panel.note_committed.connect(self.set_note)
        panel.finished.connect(lambda: self.table.setFocus(Qt.FocusReason.OtherFocusReason))

    # -- actions ------------------------------------------------------------------------
    def _action(self, text: str, keys: list[str], slot: Callable[[], Any]) -> QAction:
        a = QAction(text, self.window)
        a.setShortcuts([QKeySequence(k) for k in keys])
        # keys act in the table only: digits and Enter type text in the note and search
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.triggered.connect(slot)
        self.table.addAction(a)
        return a

    def _build_actions(self) -> None:
        names = self.model.class_names
        self.class_actions = [
            self._action(f"Reviewer: {class_label(n)}", [str(i + 1)], self._class_slot(n))
            for i, n in enumerate(names[:9])
        ]
        enter = ["Return", "Enter"]
        self.confirm_action = self._action("&Confirm Model's Call", enter, self.confirm)
        self.note_action = self._action("Edit &Note", ["N"], self.panel.edit_note)
        self.clear_action = self._action("C&lear Decision", ["0"], self.clear)
        self.advance_action = QAction("&Move to Next Row After a Decision", self.window)
        self.advance_action.setCheckable(True)
        self.advance_action.setChecked(_as_bool(self.settings.value(ADVANCE_KEY, True)))
        self.advance_action.toggled.connect(lambda on: self._remember(ADVANCE_KEY, on))
        self.summary_action = QAction("Agreement &Summary…", self.window)
        self.summary_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.summary_action.triggered.connect(self.show_summary)
        self.identifiers_action = QAction("Include Patient &Identifiers in Exports", self.window)
        self.identifiers_action.setCheckable(True)
        self.identifiers_action.setToolTip("Adds patient_id and study_date (DICOM) to exports")
        # for this session only: a choice remembered overnight would put names and dates
        # in the next day's exports with only a menu checkmark to show it
        self.identifiers_action.setChecked(False)
        if self.settings.contains(IDENTIFIERS_KEY):  # remembered by an older version
            self.settings.remove(IDENTIFIERS_KEY)
            self.settings.sync()
        self.identifiers_action.toggled.connect(self._on_identifiers)
        for a in (*self.class_actions, self.confirm_action, self.note_action, self.clear_action):
            a.setEnabled(self.store is not None)

    def _class_slot(self, name: str) -> Callable[[], None]:
        def slot() -> None:
            self.set_class(name)

        return slot

    def menu(self) -> list[QAction | None]:
        return [
            *self.class_actions,
            self.confirm_action,
            self.clear_action,
            self.note_action,
            None,
            self.advance_action,
            None,
            self.summary_action,
        ]

    def _remember(self, key: str, value: bool) -> None:
        self.settings.setValue(key, value)
        self.settings.sync()

    def _on_identifiers(self, on: bool) -> None:
        if on:
            answer = QMessageBox.warning(
                self.window,
                "Include patient identifiers?",
                PHI_WARNING,
                QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Ok:
                self.identifiers_action.setChecked(False)
                return
        self.identifiers_changed.emit(on)

    @property
    def include_identifiers(self) -> bool:
        return self.identifiers_action.isChecked()

    # -- decisions ----------------------------------------------------------------------
    def decision_for_key(self, key: Key) -> Decision | None:
        return self.store.get(key) if self.store is not None else None

    def decision_of(self, result: SliceResult | None) -> Decision | None:
        key = key_of(result) if result is not None else None
        return self.decision_for_key(key) if key is not None else None

    def decisions(self) -> dict[Key, Decision]:
        return {d.key: d for d in self.store.all()} if self.store is not None else {}

    def show_current(self, result: SliceResult | None) -> None:
        reason = self.problem
        if result is not None and (result.path, result.image_sha256) in self.changed:
            reason = f"Review is off: the {FILE_CHANGED}"
        self.panel.show_decision(result, self.decision_of(result), reason)

    def mark_changed(self, result: SliceResult) -> None:
        """The file of ``result`` is not the one classified: no decision for that row."""
        self.changed.add((result.path, result.image_sha256))
        current = self.proxy.result_at(self.table.currentIndex().row())
        if current is not None and (current.path, current.image_sha256) in self.changed:
            self.show_current(current)

    def reviewable(self, r: SliceResult) -> bool:
        """:func:`reviewable`, and its file has not changed since it was classified."""
        return reviewable(r) and (r.path, r.image_sha256) not in self.changed

    def _selected(self) -> list[SliceResult]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex().row()]
        found = (self.proxy.result_at(r) for r in rows)
        return [r for r in found if r is not None and self.reviewable(r)]

    def set_class(self, name: str) -> None:
        """The reviewer's class for the selected rows (keys 1-4, the panel's buttons)."""
        self._decide([(r, name) for r in self._selected()])

    def confirm(self) -> None:
        """Enter: the reviewer agrees with the model's call (rows with a firm call only)."""
        chosen = self._selected()
        firm = [(r, model_call(r)) for r in chosen if r.status is Status.OK and model_call(r)]
        if not firm:
            if chosen:
                self.notify("No firm model call to confirm here - press 1-4 to set the class")
            return
        self._decide(firm)

    def clear(self) -> None:
        self._decide([(r, None) for r in self._selected()], advance=False)

    def set_note(self, text: str) -> None:
        r = self.proxy.result_at(self.table.currentIndex().row())
        if r is not None and self.reviewable(r):
            old = self.decision_of(r)
            self._save([(r, old.reviewer_class if old else None, text.strip())])

    def _decide(self, pairs: list[tuple[SliceResult, str | None]], advance: bool = True) -> None:
        if not pairs:
            return
        notes = {key_of(r): (d.note if (d := self.decision_of(r)) else "") for r, _ in pairs}
        target = self._next_source_row() if advance and len(pairs) == 1 else None
        if self._save([(r, cls, notes[key_of(r)]) for r, cls in pairs]) and target is not None:
            self._select_source_row(target)

    def _save(self, items: list[tuple[SliceResult, str | None, str]]) -> bool:
        if self.store is None:
            return False
        decisions = [
            Decision(r.image_sha256 or "", r.frame, c, note, model_call(r)) for r, c, note in items
        ]
        try:
            self.store.put(decisions)
        except DecisionStoreError as exc:
            QMessageBox.critical(self.window, "Decision not saved", str(exc))
            return False
        self.model.decisions_changed({d.key for d in decisions})
        current = self.proxy.result_at(self.table.currentIndex().row())
        self.show_current(current)
        if len(decisions) > 1:
            self.notify(f"Decision saved for {len(decisions):,} rows")
        return True

    # -- moving on ----------------------------------------------------------------------
    def _next_source_row(self) -> int | None:
        if not self.advance_action.isChecked():
            return None
        row = self.table.currentIndex().row() + 1
        if not 0 < row < self.proxy.rowCount():
            return None
        return self.proxy.mapToSource(self.proxy.index(row, 0)).row()

    def _select_source_row(self, source_row: int) -> None:
        index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        if index.isValid():
            flags = (
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows
            )
            self.table.selectionModel().setCurrentIndex(index, flags)
            self.table.scrollTo(index)

    # -- summary ------------------------------------------------------------------------
    def show_summary(self) -> QWidget:
        from desktop.core.decisions import summarise
        from desktop.ui.review.summary_dialog import SummaryDialog

        results = self.model.results()
        summary = summarise(((r, self.decision_of(r)) for r in results), self.model.class_names)
        dialog = SummaryDialog(summary, self.window, self.cases_text(), self.case_decisions_text())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.summary_dialog = dialog
        return dialog

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def reviewable(r: SliceResult) -> bool:
    """A row can take a decision: it has an image hash and its file could be read."""
    return key_of(r) is not None and r.status is not Status.ERROR


def _as_bool(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")
