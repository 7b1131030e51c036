"""The case list (issue 15.3): one row per case with its verdict, streaming as slices
arrive; selecting a case shows its slices; the reviewer's decision on a case persists
and is exported."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from desktop.core.case_export import CASE_REVIEW_COLUMNS
from desktop.core.cases import Case, CaseKind
from desktop.core.decisions import case_key
from desktop.ui.cases import model as case_model
from desktop.ui.cases.model import CaseColumn
from desktop.ui.main_window import MainWindow
from desktop.ui.worker import to_row
from tests.ui.test_cases_ui import CLEAR, TUMOUR, sliced

AMBIG = (0.3, 0.1, 0.5, 0.1)


@pytest.fixture
def window(qtbot, data_dir) -> MainWindow:
    w = MainWindow(None)
    qtbot.addWidget(w)
    w.show()
    return w


def texts(window: MainWindow, column: CaseColumn) -> list[str]:
    proxy = window.case_panel.proxy
    return [proxy.index(r, column).data() for r in range(proxy.rowCount())]


def volume(case: str, n: int, tumour: range = range(0)) -> list:
    """A NIfTI volume's rows (frame = slice index, as the reader gives them)."""
    return [
        replace(sliced(f"{case}.nii.gz", case, i, TUMOUR if i in tumour else CLEAR), frame=i)
        for i in range(n)
    ]


def test_the_list_fills_and_updates_as_slices_stream(qtbot, qtmodeltester, window) -> None:
    qtmodeltester.check(window.case_list)
    plan = [
        Case("series", "/data/series", CaseKind.DICOM_SERIES, tuple(f"IM{i}" for i in range(6)))
    ]
    window.case_list.add_cases(plan)
    window.case_list.set_busy(True)
    series = [sliced(f"IM{i}", "series", i, TUMOUR if i >= 2 else CLEAR) for i in range(6)]
    window.model.append_rows([to_row(r) for r in series[:2]])
    assert texts(window, CaseColumn.CASE) == ["series"]
    assert texts(window, CaseColumn.SLICES) == ["2 / 6"]
    assert texts(window, CaseColumn.VERDICT) == ["no tumour"]
    window.model.append_rows([to_row(r) for r in series[2:]])
    assert texts(window, CaseColumn.SLICES) == ["6"]
    assert texts(window, CaseColumn.VERDICT) == ["TUMOUR SUSPECTED"]
    assert texts(window, CaseColumn.RANGE) == ["3–6 of 6"]
    assert texts(window, CaseColumn.TUMOUR) == ["4"]
    # a volume whose size the plan does not know: "…" while its slices arrive
    window.model.append_rows([to_row(r) for r in volume("vol", 5)])
    row = window.case_list.row_of("vol")
    assert window.case_list.index(row, CaseColumn.SLICES).data() == "5 …"
    window.case_list.set_busy(False)
    assert window.case_list.index(row, CaseColumn.SLICES).data() == "5"
    # 40 loose images in one folder are one row, not 40
    images = [
        replace(
            sliced(f"i{i}.jpg", f"i{i}.jpg", 0, TUMOUR if i < 3 else CLEAR),
            path=f"/data/loose/i{i}.jpg",
        )
        for i in range(40)
    ]
    for k in range(0, 40, 10):
        window.model.append_rows([to_row(r) for r in images[k : k + 10]])
    assert window.case_list.rowCount() == 3
    group = window.case_list.row_of("images\0/data/loose")
    assert window.case_list.index(group, CaseColumn.CASE).data() == "40 images in loose"
    assert window.case_list.index(group, CaseColumn.VERDICT).data() == "3 of 40 suspected"
    assert "2 cases + 40 single images" in window.case_panel.title.text()
    qtmodeltester.check(window.case_list)
    # removing a case's rows removes its row
    window.clear_all()
    assert window.case_list.rowCount() == 0


def test_streaming_recounts_only_the_changed_cases(window, monkeypatch) -> None:
    """Thousands of rows in chunks: the list reads only the cases a chunk touched."""
    calls: list[str] = []
    real = window.cases.results

    def counting(key: str) -> list:
        calls.append(key)
        return real(key)

    monkeypatch.setattr(window.cases, "results", counting)
    rows = [to_row(sliced(f"v{i:04d}.dcm", f"case{i // 100}", i % 100)) for i in range(2000)]
    for k in range(0, 2000, 50):
        window.model.append_rows(rows[k : k + 50])
    assert window.case_list.rowCount() == 20
    assert len(calls) <= 2 * 40  # each chunk touches one case


def test_suspect_cases_come_first_and_columns_sort(window) -> None:
    rows = volume("clear", 4) + volume("suspect", 6, range(2, 5)) + volume("maybe", 3)
    rows += [sliced("m.dcm", "maybe", 3, AMBIG)]
    window.model.append_rows([to_row(r) for r in rows])
    assert texts(window, CaseColumn.CASE)[0] == "suspect"
    assert texts(window, CaseColumn.VERDICT)[0] == "TUMOUR SUSPECTED"
    assert texts(window, CaseColumn.VERDICT)[-1] == "no tumour"
    window.case_panel.view.sortByColumn(CaseColumn.CASE, Qt.SortOrder.AscendingOrder)
    assert texts(window, CaseColumn.CASE) == ["clear", "maybe", "suspect"]
    window.case_panel.view.sortByColumn(CaseColumn.SLICES, Qt.SortOrder.DescendingOrder)
    assert texts(window, CaseColumn.CASE)[0] == "suspect"


def test_selecting_a_case_filters_the_table_and_selects_its_suspect_slice(qtbot, window) -> None:
    rows = volume("a", 8) + volume("b", 10, range(4, 8)) + volume("c", 3)
    window.model.append_rows([to_row(r) for r in rows])
    assert window.case_panel.select_key("b")
    assert window.proxy.rowCount() == 10
    assert {window.proxy.result_at(r).case for r in range(10)} == {"b"}
    current = window.proxy.result_at(window.table.currentIndex().row())
    assert (current.case, current.slice_index) == ("b", 4)
    assert "slices 5–8 of 10" in window.case_panel.decision.state.text()
    # a case without a suspect slice: its first slice in anatomical order
    window.case_panel.select_key("c")
    current = window.proxy.result_at(window.table.currentIndex().row())
    assert (current.case, current.slice_index) == ("c", 0)
    # new slices of the selected case appear; others stay hidden
    window.model.append_rows(
        [to_row(replace(sliced("c.nii.gz", "c", 3), frame=3)), to_row(sliced("z.png", "z", 0))]
    )
    assert window.proxy.rowCount() == 4
    assert window.case_panel.all_button.isEnabled()
    qtbot.mouseClick(window.case_panel.all_button, Qt.MouseButton.LeftButton)
    assert window.proxy.rowCount() == window.model.rowCount() == 23
    assert not window.case_panel.all_button.isEnabled()
    # Clear All with a case selected: the next files' slices are all shown
    window.case_panel.select_key("b")
    window.clear_all()
    window.model.append_rows([to_row(r) for r in volume("b", 2) + volume("d", 2)])
    assert window.proxy.rowCount() == 4


def test_keys_decide_on_the_case(qtbot, window) -> None:
    window.model.append_rows([to_row(r) for r in volume("v", 6, range(1, 4))])
    window.focus_case_list()
    view = window.case_panel.view
    assert window.case_panel.current_entry().key == "v"
    qtbot.keyClick(view, Qt.Key.Key_Return)  # confirm: tumour suspected (glioma)
    d = window.case_review.decision_of(window.case_panel.current_entry())
    assert (d.reviewer_verdict, d.reviewer_class, d.agrees) == ("tumour_suspected", "glioma", True)
    assert texts(window, CaseColumn.REVIEWER) == ["✓ tumour (glioma)"]
    qtbot.keyClick(view, Qt.Key.Key_3)  # no_tumor is the third class: an override
    d = window.case_review.decision_of(window.case_panel.current_entry())
    assert (d.reviewer_verdict, d.reviewer_class, d.agrees) == ("no_tumour", None, False)
    assert texts(window, CaseColumn.REVIEWER) == ["≠ no tumour"]
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert window.case_review.decision_of(window.case_panel.current_entry()) is None
    assert texts(window, CaseColumn.REVIEWER) == [""]


def test_summary_counts_case_decisions(window) -> None:
    window.model.append_rows([to_row(r) for r in volume("a", 4, range(4)) + volume("b", 4)])
    window.case_panel.select_key("a")
    window.case_panel.decision.confirm_button.click()
    window.case_panel.select_key("b")
    window.case_panel.decision.buttons[1].click()  # tumour: meningioma
    dialog = window.review.show_summary()
    assert dialog.case_decisions.text() == (
        "2 of 2 case(s) have a reviewer's verdict: 1 confirm the model's verdict, 1 override it."
    )
    dialog.close()


def test_a_case_decision_persists_and_is_exported(
    qtbot, tmp_path: Path, data_dir: Path, test_model_path: Path, monkeypatch
) -> None:
    """A real run on a DICOM series: decide, close, reopen on the same data folder and
    the same files, see the decision, export it."""
    from desktop.core.classifier import Classifier
    from desktop.ui.app import build_window
    from tests.core.test_cases import write_series

    write_series(tmp_path / "scan" / "t1", [f"IM{i}" for i in range(1, 6)], [0.0, 2, 4, 6, 8])
    classifier = Classifier.load(test_model_path)

    def opened() -> MainWindow:
        w = build_window(classifier)
        qtbot.addWidget(w)
        with qtbot.waitSignal(w.controller.idle, timeout=30_000):
            w.classify([tmp_path / "scan"])
        return w

    first = opened()
    assert texts(first, CaseColumn.CASE) == ["t1"]
    assert texts(first, CaseColumn.KIND) == ["DICOM series"]
    assert texts(first, CaseColumn.SLICES) == ["5"]
    first.case_panel.select_key("t1")
    first.case_panel.decision.buttons[0].click()  # tumour: glioma
    first.case_panel.decision.note.setText("enhancing rim on 3-4")
    first.case_panel.decision.note.returnPressed.emit()
    first.close()

    second = opened()
    assert texts(second, CaseColumn.REVIEWER)[0].startswith(
        ("✓ tumour (glioma)", "≠ tumour (glioma)")
    )
    second.case_panel.select_key("t1")
    assert second.case_panel.decision.note.text() == "enhancing rim on 3-4"
    out = tmp_path / "cases.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), ""))
    )
    assert second.export_cases("csv")
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    row = rows[0]
    assert set(CASE_REVIEW_COLUMNS) <= set(row)
    assert (row["case"], row["kind"], row["slices"]) == ("t1", "dicom_series", "5")
    assert row["path"] == str((tmp_path / "scan" / "t1").resolve())
    assert (row["reviewer_verdict"], row["reviewer_class"]) == ("tumour_suspected", "glioma")
    assert row["reviewer_note"] == "enhancing rim on 3-4"
    assert row["reviewed_at"]
    assert row["notice"]
    # the key holds the series, not only the folder (a folder may hold two series)
    case = second.case_list.cases["t1"]
    assert case_key(case)[1] and case_key(case)[0] == row["path"]
    second.close()


def test_range_text_counts_from_one() -> None:
    assert case_model.range_text(40, 62, 140) == "41–63 of 140"
    assert case_model.range_text(5, 5, 10) == "6 of 10"
    assert case_model.range_text(None, None, 10) == ""


def test_a_case_without_a_plan_keeps_its_decision_in_the_export(
    qtbot, tmp_path: Path, data_dir: Path, test_model_path: Path, monkeypatch
) -> None:
    """Rows that came without a plan (each file a case of its own): the export names
    the case by its file, and the decision made in the list is in it."""
    from desktop.core.classifier import Classifier

    w = MainWindow(Classifier.load(test_model_path))
    qtbot.addWidget(w)
    w.model.append_rows([to_row(r) for r in volume("v", 5, range(1, 4))])
    w.case_panel.select_key("v")
    w.case_panel.decision.buttons[2].click()  # no tumour
    out = tmp_path / "cases.json"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), ""))
    )
    assert w.export_cases("json")
    (case,) = json.loads(out.read_text())["cases"]
    assert (case["kind"], case["path"]) == ("nifti_volume", "/data/v/v.nii.gz")
    assert (case["verdict"], case["reviewer_verdict"]) == ("tumour_suspected", "no_tumour")


def test_a_suspect_verdict_stays_red_on_the_selected_row(window) -> None:
    from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

    window.model.append_rows([to_row(r) for r in volume("v", 4, range(4))])
    window.case_panel.select_key("v")
    view, delegate = window.case_panel.view, window.case_panel.verdict_delegate
    assert view.itemDelegateForColumn(CaseColumn.VERDICT) is delegate
    option = QStyleOptionViewItem()
    option.state = QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_Enabled
    delegate.initStyleOption(option, window.case_panel.proxy.index(0, CaseColumn.VERDICT))
    assert not option.state & QStyle.StateFlag.State_Selected
    assert (
        option.backgroundBrush.color()
        == case_model.VERDICT_COLOURS[case_model.Verdict.TUMOUR_SUSPECTED][1]
    )
