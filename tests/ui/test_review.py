"""Reviewer decisions in the window: keyboard, mouse, persistence, sorting, summary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.core.decisions import DB_NAME, Agreement, DecisionStore
from desktop.core.results import Status
from desktop.ui.app import build_window
from desktop.ui.main_window import MainWindow
from desktop.ui.table.model import Column
from desktop.ui.vocabulary import SortRole
from desktop.ui.worker import to_row
from tests.ui.conftest import make_result


@pytest.fixture
def classifier(test_model_path: Path):
    from desktop.core.classifier import Classifier

    return Classifier.load(test_model_path)


def new_window(qtbot, classifier) -> MainWindow:
    w = build_window(classifier)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(qtbot, classifier, data_dir: Path) -> MainWindow:
    return new_window(qtbot, classifier)


def rows_with(window: MainWindow, specs: list[tuple[str, Status, tuple[float, ...] | None]]):
    """Rows without classification: each its own image hash."""
    results = [
        replace(make_result(name, status, probs), image_sha256=f"{i + 1:064x}")
        for i, (name, status, probs) in enumerate(specs)
    ]
    window.model.append_rows([to_row(r) for r in results])
    return results


OK_GLIOMA = (0.9, 0.05, 0.03, 0.02)
OK_PITUITARY = (0.05, 0.05, 0.1, 0.8)


def press(qtbot, window: MainWindow, key: Qt.Key, text: str = "") -> None:
    window.table.setFocus()
    qtbot.keyClick(window.table, key)


def reviewer_cells(window: MainWindow) -> list[str]:
    m = window.model
    return [m.index(i, Column.REVIEWER).data() for i in range(m.rowCount())]


def test_keys_1_to_4_and_enter_set_decisions(qtbot, window: MainWindow, data_dir: Path) -> None:
    rows_with(window, [(f"s{i}.png", Status.OK, OK_GLIOMA) for i in range(5)])
    window.table.selectRow(0)
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4):
        press(qtbot, window, key)  # each decision moves on to the next row
    assert window.table.currentIndex().row() == 4
    press(qtbot, window, Qt.Key.Key_Return)  # Enter confirms the model's call (glioma)
    assert reviewer_cells(window) == ["glioma", "meningioma", "no tumor", "pituitary", "glioma"]
    agreement = [window.model.index(i, Column.AGREEMENT).data() for i in range(5)]
    assert agreement == ["agree", "disagree", "disagree", "disagree", "agree"]
    assert len(DecisionStore(data_dir)) == 5  # written through at once
    # 0 clears the class of the current row (and does not move on)
    window.table.selectRow(1)
    press(qtbot, window, Qt.Key.Key_0)
    assert reviewer_cells(window)[1] == "" and window.table.currentIndex().row() == 1
    assert window.preview.review.state.text().count("Not reviewed") == 1


def test_enter_does_not_confirm_an_uncertain_guess(qtbot, window: MainWindow) -> None:
    rows_with(window, [("u.png", Status.UNCERTAIN, (0.4, 0.35, 0.15, 0.1))])
    window.table.selectRow(0)
    assert not window.preview.review.confirm_button.isEnabled()
    press(qtbot, window, Qt.Key.Key_Enter)
    assert reviewer_cells(window) == [""]
    assert "No firm model call" in window.statusBar().currentMessage()
    press(qtbot, window, Qt.Key.Key_3)  # the reviewer may still set a class
    assert window.model.index(0, Column.AGREEMENT).data() == "reviewer only"


def test_several_rows_at_once_and_mouse_buttons(qtbot, window: MainWindow) -> None:
    rows_with(window, [(f"s{i}.png", Status.OK, OK_PITUITARY) for i in range(4)])
    window.table.selectAll()
    press(qtbot, window, Qt.Key.Key_3)
    assert reviewer_cells(window) == ["no tumor"] * 4
    window.table.selectRow(2)
    panel = window.preview.review
    assert panel.class_buttons[2].isChecked()
    qtbot.mouseClick(panel.class_buttons[0], Qt.MouseButton.LeftButton)
    assert reviewer_cells(window)[2] == "glioma"
    window.table.selectRow(1)
    qtbot.mouseClick(panel.confirm_button, Qt.MouseButton.LeftButton)
    assert reviewer_cells(window)[1] == "pituitary"
    assert window.model.index(1, Column.AGREEMENT).data() == "agree"


def test_note_with_the_keyboard(qtbot, window: MainWindow) -> None:
    rows_with(window, [("a.png", Status.OK, OK_GLIOMA), ("b.png", Status.OK, OK_GLIOMA)])
    window.table.selectRow(0)
    press(qtbot, window, Qt.Key.Key_N)
    note = window.preview.review.note
    assert QApplication.focusWidget() is note
    qtbot.keyClicks(note, "T1 only; 2 lesions")  # digits type text here, no decision
    qtbot.keyClick(note, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is window.table
    assert window.table.currentIndex().row() == 0  # a note does not move on
    assert reviewer_cells(window) == ["— ✎", ""]  # a note without a class
    d = window.review.decision_of(window.model.results()[0])
    assert d is not None and d.note == "T1 only; 2 lesions" and d.reviewer_class is None
    press(qtbot, window, Qt.Key.Key_1)  # the class keeps the note
    assert reviewer_cells(window)[0] == "glioma ✎"
    tip = window.model.index(0, Column.REVIEWER).data(Qt.ItemDataRole.ToolTipRole)
    assert "T1 only; 2 lesions" in tip and "Reviewer said: glioma" in tip
    # Esc in the note puts the saved text back
    window.table.selectRow(0)
    press(qtbot, window, Qt.Key.Key_N)
    qtbot.keyClicks(note, "discard me")
    qtbot.keyClick(note, Qt.Key.Key_Escape)
    assert note.text() == "T1 only; 2 lesions"


def test_agreement_column_sorts(qtbot, window: MainWindow) -> None:
    rows_with(
        window,
        [
            ("agree.png", Status.OK, OK_GLIOMA),
            ("none.png", Status.OK, OK_GLIOMA),
            ("disagree.png", Status.OK, OK_GLIOMA),
            ("nocall.png", Status.UNCERTAIN, (0.4, 0.35, 0.15, 0.1)),
        ],
    )
    window.review.advance_action.setChecked(False)
    for row, key in ((0, Qt.Key.Key_1), (2, Qt.Key.Key_4), (3, Qt.Key.Key_2)):
        window.table.selectRow(row)
        press(qtbot, window, key)
    window.table.sortByColumn(Column.AGREEMENT, Qt.SortOrder.AscendingOrder)
    names = [Path(window.proxy.result_at(r).path).name for r in range(4)]
    assert names == ["disagree.png", "nocall.png", "agree.png", "none.png"]
    window.table.sortByColumn(Column.AGREEMENT, Qt.SortOrder.DescendingOrder)
    keys = [window.proxy.index(r, Column.AGREEMENT).data(SortRole) for r in range(4)]
    assert keys == sorted(keys, reverse=True)


def test_decisions_survive_a_restart(qtbot, classifier, data_dir: Path, image_folder: Path):
    first = new_window(qtbot, classifier)
    assert not (data_dir / DB_NAME).exists()  # nothing written before a decision
    with qtbot.waitSignal(first.controller.idle, timeout=30_000):
        first.classify([image_folder])
    first.table.sortByColumn(Column.FILE, Qt.SortOrder.AscendingOrder)
    names = [Path(first.proxy.result_at(r).path).name for r in range(first.proxy.rowCount())]
    target = names.index("slice_02.png")
    first.table.selectRow(target)
    press(qtbot, first, Qt.Key.Key_4)
    first.close()
    second = new_window(qtbot, classifier)
    with qtbot.waitSignal(second.controller.idle, timeout=30_000):
        second.classify([image_folder])
    found = {
        Path(r.path).name: second.model.index(i, Column.REVIEWER).data()
        for i, r in enumerate(second.model.results())
    }
    assert found["slice_02.png"] == "pituitary"
    assert {v for k, v in found.items() if k != "slice_02.png"} == {""}
    i = [Path(r.path).name for r in second.model.results()].index("slice_02.png")
    second.table.selectRow(second.proxy.mapFromSource(second.model.index(i, 0)).row())
    assert second.preview.review.class_buttons[3].isChecked()


def test_summary_dialog_counts(qtbot, window: MainWindow) -> None:
    rows_with(
        window,
        [
            ("g1.png", Status.OK, OK_GLIOMA),
            ("g2.png", Status.OK, OK_GLIOMA),
            ("g3.png", Status.OK, OK_GLIOMA),
            ("p1.png", Status.OK, OK_PITUITARY),
            ("u1.png", Status.UNCERTAIN, (0.4, 0.35, 0.15, 0.1)),
            ("x.png", Status.OK, OK_PITUITARY),
        ],
    )
    window.review.advance_action.setChecked(False)
    keys = [Qt.Key.Key_1, Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_Return, Qt.Key.Key_3]
    for row, key in enumerate(keys):
        window.table.selectRow(row)
        press(qtbot, window, key)
    assert window.review.summary_action.isEnabled()
    window.review.summary_action.trigger()
    dialog = window.review.summary_dialog
    assert dialog is not None and dialog.isVisible()
    s = dialog.summary
    assert (s.rows, s.reviewed) == (6, 5)
    assert s.counts[Agreement.AGREE] == 3 and s.counts[Agreement.DISAGREE] == 1
    assert "3 of 4" in dialog.headline.text() and "75%" in dialog.headline.text()
    # per class: glioma row = 3 reviewed, 2 agreed, 67 %, reviewer said glioma twice
    assert [dialog.cell(dialog.per_class, 0, c) for c in range(4)] == ["3", "2", "67%", "2"]
    assert [dialog.cell(dialog.per_class, 3, c) for c in range(4)] == ["1", "1", "100%", "1"]
    # confusion: model glioma -> reviewer meningioma once; no firm call -> no tumor once
    assert dialog.cell(dialog.confusion, 0, 1) == "1"
    assert dialog.cell(dialog.confusion, 4, 2) == "1"
    assert dialog.cell(dialog.confusion, 1, 1) == "·"
    dialog.close()


def test_model_with_decisions_passes_qtmodeltester(qtbot, qtmodeltester, window) -> None:
    rows_with(window, [(f"s{i}.png", Status.OK, OK_GLIOMA) for i in range(3)])
    window.table.selectRow(1)
    press(qtbot, window, Qt.Key.Key_2)
    qtmodeltester.check(window.model, force_py=True)


def test_unreadable_rows_take_no_decision(qtbot, window: MainWindow) -> None:
    rows_with(window, [("bad.jpg", Status.ERROR, None), ("ok.png", Status.OK, OK_GLIOMA)])
    window.table.selectRow(0)
    assert not window.preview.review.class_buttons[0].isEnabled()
    press(qtbot, window, Qt.Key.Key_1)
    assert reviewer_cells(window) == ["", ""]


def test_damaged_decisions_file(qtbot, classifier, data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / DB_NAME).write_bytes(b"not sqlite" * 200)
    w = new_window(qtbot, classifier)
    rows_with(w, [("a.png", Status.OK, OK_GLIOMA)])
    w.table.selectRow(0)
    assert not w.review.class_actions[0].isEnabled()
    assert "decisions file" in w.preview.review.state.text()
    press(qtbot, w, Qt.Key.Key_1)
    assert reviewer_cells(w) == [""]
    assert (data_dir / DB_NAME).read_bytes() == b"not sqlite" * 200  # left as it was


def test_one_user_data_folder_for_decisions_settings_and_logs(tmp_path, monkeypatch) -> None:
    """Issue 16.11: decisions and settings live where the logs do, on every OS."""
    from desktop import logging_setup
    from desktop.core.decisions import DATA_DIR_ENV
    from desktop.ui.review.controller import resolve_data_dir

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(logging_setup, "platform_data_dir", lambda: tmp_path / "local")
    assert resolve_data_dir() == tmp_path / "local" == logging_setup.log_dir().parent
