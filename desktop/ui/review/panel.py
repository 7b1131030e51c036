"""The reviewer's controls under the preview: class buttons, confirm, clear, note."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from desktop.core.decisions import Agreement, Decision, agreement
from desktop.core.results import SliceResult, Status
from desktop.ui.vocabulary import class_label

_AGREEMENT_TEXT = {
    Agreement.AGREE: ("#1e783c", "Reviewer agrees with the model"),
    Agreement.DISAGREE: ("#b02030", "Reviewer disagrees with the model"),
    Agreement.NO_MODEL_CALL: ("#5a5a96", "Reviewer's class (the model made no firm call)"),
    Agreement.NOT_REVIEWED: ("#707070", "Not reviewed yet"),
}


class NoteEdit(QLineEdit):
    """The note field: Enter saves, Esc puts the saved text back; both return to the table."""

    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class ReviewPanel(QFrame):
    """Shows the decision of the current row and lets the reviewer change it."""

    class_chosen = Signal(str)
    confirm_requested = Signal()
    clear_requested = Signal()
    note_committed = Signal(str)
    #: the panel is done with the keyboard (focus back to the table)
    finished = Signal()

    def __init__(self, class_names: Sequence[str], parent: Any = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.class_names = tuple(class_names)
        self._saved_note = ""
        self.heading = QLabel("<b>Reviewer</b>")
        self.state = QLabel()
        self.state.setTextFormat(Qt.TextFormat.RichText)
        self.group = QButtonGroup(self)
        self.group.setExclusive(False)  # an unchecked state is "no decision"
        self.class_buttons: list[QPushButton] = []
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for i, name in enumerate(self.class_names):
            b = QPushButton(f"{i + 1}  {class_label(name)}")
            b.setCheckable(True)
            b.setToolTip(f"The reviewer says {class_label(name)} (key {i + 1})")
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _=False, n=name: self.class_chosen.emit(n))
            self.group.addButton(b, i)
            self.class_buttons.append(b)
            buttons.addWidget(b)
        self.confirm_button = QPushButton("✓ Confirm the model's call (Enter)")
        self.confirm_button.setToolTip("Agree with the model's call")
        self.clear_button = QPushButton("Clear (0)")
        self.clear_button.setToolTip("Remove the reviewer's class (the note stays)")
        for b in (self.confirm_button, self.clear_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.note = NoteEdit()
        self.note.setPlaceholderText("Note (N to edit, Enter to save)")
        self.note.setClearButtonEnabled(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setVerticalSpacing(4)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self.heading)
        top.addWidget(self.state, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.confirm_button, 1)
        actions.addWidget(self.clear_button)
        grid.addLayout(top, 0, 0)
        grid.addLayout(buttons, 1, 0)
        grid.addLayout(actions, 2, 0)
        grid.addWidget(self.note, 3, 0)
        self.setStyleSheet(
            "QPushButton:checked { background: #2f6fb3; color: white; font-weight: 600;"
            " border: 1px solid #1d4f86; border-radius: 3px; padding: 3px; }"
        )
        self.confirm_button.clicked.connect(self.confirm_requested)
        self.clear_button.clicked.connect(self.clear_requested)
        self.note.returnPressed.connect(self._commit_note)
        self.note.editingFinished.connect(self._commit_note_quietly)
        self.note.escaped.connect(self._revert_note)
        self.show_decision(None, None)

    def show_decision(
        self, result: SliceResult | None, decision: Decision | None, reason: str = ""
    ) -> None:
        """Show the current row's decision (result None: nothing selected)."""
        usable = (
            result is not None
            and bool(result.image_sha256)
            and result.status is not Status.ERROR
            and not reason
        )
        for w in (*self.class_buttons, self.clear_button, self.note):
            w.setEnabled(usable)
        self.confirm_button.setEnabled(usable and result is not None and result.status is Status.OK)
        chosen = decision.reviewer_class if decision else None
        for b, name in zip(self.class_buttons, self.class_names, strict=False):
            b.setChecked(name == chosen)
        self.clear_button.setEnabled(usable and chosen is not None)
        self._saved_note = decision.note if decision else ""
        self.note.blockSignals(True)
        self.note.setText(self._saved_note)
        self.note.blockSignals(False)
        self.state.setToolTip("")
        if result is None:
            self.state.setText("")
        elif not usable:
            why = reason or "unreadable file"
            self.state.setText(f"<span style='color:#707070'>no decisions ({why})</span>")
            self.state.setToolTip(
                "A file that could not be read has no image hash to key a decision."
            )
        else:
            colour, words = _AGREEMENT_TEXT[agreement(result, decision)]
            when = (
                f" <small>({decision.reviewed_at[:16].replace('T', ' ')})</small>"
                if (decision and decision.reviewer_class)
                else ""
            )
            self.state.setText(f"<span style='color:{colour}'>{words}</span>{when}")

    def edit_note(self) -> None:
        if self.note.isEnabled():
            self.note.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.note.selectAll()

    def _commit_note(self) -> None:
        self._commit_note_quietly()
        self.finished.emit()

    def _commit_note_quietly(self) -> None:
        text = self.note.text().strip()
        if text != self._saved_note and self.note.isEnabled():
            self._saved_note = text
            self.note_committed.emit(text)

    def _revert_note(self) -> None:
        self.note.blockSignals(True)
        self.note.setText(self._saved_note)
        self.note.blockSignals(False)
        self.finished.emit()
