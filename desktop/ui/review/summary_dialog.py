"""Agreement between model and reviewer: counts per class and a small confusion table."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from desktop.core.decisions import Agreement, AgreementSummary
from desktop.ui.vocabulary import class_label

NO_CALL = "no firm call"
PER_CLASS_HEADERS = ["Model calls reviewed", "Reviewer agreed", "Agreement", "Reviewer chose"]


def headline(s: AgreementSummary) -> str:
    rate = s.agreement_rate
    agree, disagree = s.counts[Agreement.AGREE], s.counts[Agreement.DISAGREE]
    parts = [f"{s.reviewed:,} of {s.rows:,} rows reviewed."]
    if rate is None:
        parts.append("No firm model call has been reviewed yet.")
    else:
        parts.append(
            f"The reviewer agreed with {rate:.0%} of the model's firm calls "
            f"({agree:,} of {agree + disagree:,})."
        )
    if s.counts[Agreement.NO_MODEL_CALL]:
        parts.append(
            f"{s.counts[Agreement.NO_MODEL_CALL]:,} reviewed row(s) had no firm model call "
            "(uncertain or unsupported)."
        )
    return " ".join(parts)


def _item(text: str, align_right: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(rows: int, cols: int) -> QTableWidget:
    t = QTableWidget(rows, cols)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    t.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return t


def _fit_height(t: QTableWidget) -> None:
    """No empty space below the last row."""
    t.resizeRowsToContents()
    header = t.horizontalHeader().sizeHint().height()
    t.setFixedHeight(header + t.verticalHeader().length() + 2 * t.frameWidth())


class SummaryDialog(QDialog):
    """Counts of the rows in the table (all rows, whatever the filters show)."""

    def __init__(
        self,
        summary: AgreementSummary,
        parent: Any = None,
        cases: str = "",
        case_decisions: str = "",
    ) -> None:
        """``cases``: the rows' cases and their verdicts, e.g. "3 cases: 1 tumour
        suspected, 2 no tumour" (the window's case counts), shown under the headline;
        ``case_decisions``: the reviewer's verdicts on those cases, in a sentence."""
        super().__init__(parent)
        self.setWindowTitle("Agreement between model and reviewer")
        self.summary = summary
        names = summary.class_names
        self.headline = QLabel(headline(summary))
        self.headline.setWordWrap(True)
        self.per_class = _table(len(names), len(PER_CLASS_HEADERS))
        self.per_class.setHorizontalHeaderLabels(PER_CLASS_HEADERS)
        self.per_class.setVerticalHeaderLabels([class_label(n) for n in names])
        for i, name in enumerate(names):
            total, agreed = summary.per_class(name)
            rate = f"{agreed / total:.0%}" if total else "—"
            values = [str(total), str(agreed), rate, str(summary.reviewer_total(name))]
            for j, text in enumerate(values):
                self.per_class.setItem(i, j, _item(text))
        models = [*names, ""]
        self.confusion = _table(len(models), len(names))
        self.confusion.setHorizontalHeaderLabels([class_label(n) for n in names])
        self.confusion.setVerticalHeaderLabels([class_label(m) if m else NO_CALL for m in models])
        diagonal = QColor(220, 240, 225)
        off = QColor(250, 225, 225)
        for i, m in enumerate(models):
            for j, r in enumerate(names):
                n = summary.confusion.get((m, r), 0)
                item = _item(str(n) if n else "·")
                if m == r:
                    item.setBackground(diagonal)
                elif n and m:
                    item.setBackground(off)
                self.confusion.setItem(i, j, item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.headline)
        self.cases = QLabel(f"The rows belong to {cases}." if cases else "")
        self.cases.setWordWrap(True)
        self.cases.setVisible(bool(cases))
        lay.addWidget(self.cases)
        self.case_decisions = QLabel(case_decisions)
        self.case_decisions.setWordWrap(True)
        self.case_decisions.setVisible(bool(case_decisions))
        lay.addWidget(self.case_decisions)
        lay.addWidget(QLabel("<b>Per class</b> (rows the model called each class)"))
        lay.addWidget(self.per_class)
        lay.addWidget(QLabel("<b>Model said (rows) × reviewer said (columns)</b>"))
        lay.addWidget(self.confusion)
        note = QLabel(
            "Reviewed rows only. Agreement counts firm model calls; uncertain and "
            "not-supported rows are in the “no firm call” row."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #606060;")
        lay.addWidget(note)
        lay.addWidget(buttons)
        for t in (self.per_class, self.confusion):
            _fit_height(t)
        lay.insertStretch(lay.count() - 1, 1)
        self.resize(640, self.sizeHint().height())

    def cell(self, table: QTableWidget, row: int, col: int) -> str:
        item = table.item(row, col)
        return item.text() if item is not None else ""
