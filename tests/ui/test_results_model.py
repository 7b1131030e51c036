"""The table model and the sort/filter proxy."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from desktop.core.results import Status
from desktop.ui.table.model import (
    Column,
    ResultsModel,
    SortRole,
    ThumbnailRole,
    predicted_text,
)
from desktop.ui.table.proxy import ResultsProxy
from desktop.ui.worker import to_row
from tests.ui.conftest import make_result


def sample_rows() -> list:
    return [
        to_row(make_result("a.png", probs=(0.9, 0.05, 0.03, 0.02))),
        to_row(make_result("b.png", probs=(0.1, 0.1, 0.1, 0.7))),
        to_row(make_result("c.png", Status.UNCERTAIN, probs=(0.4, 0.35, 0.15, 0.1))),
        to_row(make_result("d.png", Status.ERROR, probs=None, message="truncated JPEG")),
        to_row(make_result("e.dcm", Status.UNSUPPORTED, probs=None, message="not a brain MRI")),
        to_row(make_result("f.png", probs=(0.05, 0.85, 0.05, 0.05), frame=10)),
        to_row(make_result("f.png", probs=(0.05, 0.8, 0.1, 0.05), frame=9)),
    ]


def filled_model() -> ResultsModel:
    model = ResultsModel()
    rows = sample_rows()
    model.append_rows(rows[:3])
    model.append_rows(rows[3:])
    return model


def column_values(proxy: ResultsProxy, col: Column) -> list:
    return [proxy.index(r, col).data(SortRole) for r in range(proxy.rowCount())]


def test_model_passes_qtmodeltester(qtmodeltester):
    model = filled_model()
    qtmodeltester.check(model, force_py=True)
    model.remove_rows([1, 2, 5])
    qtmodeltester.check(model, force_py=True)


def test_proxy_passes_qtmodeltester(qtmodeltester):
    proxy = ResultsProxy()
    proxy.setSourceModel(filled_model())
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    proxy.set_status_filter(Status.OK)
    qtmodeltester.check(proxy, force_py=True)


def test_cells_read_in_words():
    model = filled_model()
    text = [[model.index(r, c).data() for c in Column] for r in range(model.rowCount())]
    assert text[0][Column.FILE] == "a.png" and text[0][Column.FOLDER] == "/data/scans"
    assert text[0][Column.PREDICTED] == "glioma" and text[0][Column.CONFIDENCE] == "90.0%"
    assert text[2][Column.PREDICTED] == "uncertain (glioma?)"
    assert text[2][Column.STATUS] == "uncertain"
    assert text[3][Column.STATUS] == "error" and text[3][Column.MESSAGE] == "truncated JPEG"
    # issue 16.9: the words of the exports ("unsupported", not "not supported")
    assert text[4][Column.STATUS] == "unsupported"
    assert text[4][Column.PREDICTED] == "(unsupported)"
    assert model.headerData(Column.P_NO_TUMOR, Qt.Orientation.Horizontal) == "p(no tumor)"
    thumb = model.index(0, Column.THUMBNAIL).data(ThumbnailRole)
    assert isinstance(thumb, QImage) and (thumb.width(), thumb.height()) == (12, 16)
    # uncertain, unsupported and error are coloured; ok is not
    fg = Qt.ItemDataRole.ForegroundRole
    assert model.index(0, Column.STATUS).data(fg) is None
    assert {model.index(r, Column.STATUS).data(fg).name() for r in (2, 3, 4)}.__len__() == 3


def test_uncertain_text_never_claims_a_class():
    r = make_result("x.png", Status.UNCERTAIN, probs=(0.3, 0.3, 0.2, 0.2))
    assert predicted_text(r).startswith("uncertain")


def test_sort_by_confidence_is_numeric():
    model = ResultsModel()
    # as text "100.0%" < "30.0%" < "9..."; as numbers 100% is the largest
    confs = [0.9, 1.0, 0.45, 0.85, 0.3]
    rows = [
        to_row(make_result(f"{i}.png", probs=(c, (1 - c) / 3, (1 - c) / 3, (1 - c) / 3)))
        for i, c in enumerate(confs)
    ]
    rows.append(to_row(make_result("err.png", Status.ERROR, probs=None)))
    model.append_rows(rows)
    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    shown = [proxy.index(r, Column.CONFIDENCE).data() for r in range(proxy.rowCount())]
    assert shown == ["100.0%", "90.0%", "85.0%", "45.0%", "30.0%", ""]
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.AscendingOrder)
    assert proxy.index(0, Column.FILE).data() == "err.png"


def test_every_column_sorts_by_its_own_kind():
    proxy = ResultsProxy()
    proxy.setSourceModel(filled_model())
    for col in Column:
        proxy.sort(col, Qt.SortOrder.AscendingOrder)
        values = column_values(proxy, col)
        assert values == sorted(values), col
    proxy.sort(Column.FRAME, Qt.SortOrder.AscendingOrder)
    assert column_values(proxy, Column.FRAME)[-2:] == [9.0, 10.0]  # 9 before 10, numerically


def test_filters_by_class_status_and_text():
    proxy = ResultsProxy()
    proxy.setSourceModel(filled_model())
    proxy.set_class_filter("meningioma")
    assert [proxy.index(r, Column.FILE).data() for r in range(proxy.rowCount())] == [
        "f.png",
        "f.png",
    ]
    proxy.set_class_filter("glioma")  # firm calls only: uncertain is not a class
    assert [proxy.index(r, Column.FILE).data() for r in range(proxy.rowCount())] == ["a.png"]
    proxy.set_status_filter(Status.UNCERTAIN)  # ... unless uncertain rows are asked for
    assert [proxy.index(r, Column.FILE).data() for r in range(proxy.rowCount())] == ["c.png"]
    proxy.set_status_filter(Status.OK)
    assert [proxy.index(r, Column.FILE).data() for r in range(proxy.rowCount())] == ["a.png"]
    proxy.set_class_filter(None)
    proxy.set_status_filter(Status.ERROR)
    assert proxy.rowCount() == 1 and proxy.result_at(0).message == "truncated JPEG"
    proxy.set_status_filter(None)
    proxy.set_text_filter("BRAIN mri")  # message, case-insensitive
    assert [proxy.index(r, Column.FILE).data() for r in range(proxy.rowCount())] == ["e.dcm"]
    proxy.set_text_filter("scans")  # folder
    assert proxy.rowCount() == 7
    assert proxy.is_filtered()


def test_remove_rows_in_ranges():
    model = filled_model()
    removed = model.remove_rows([0, 1, 3, 6, 99])
    assert sorted(r.file_name for r in removed) == ["a.png", "b.png", "d.png", "f.png"]
    assert [model.index(r, Column.FILE).data() for r in range(model.rowCount())] == [
        "c.png",
        "e.dcm",
        "f.png",
    ]
    assert model.status_counts()[Status.UNCERTAIN] == 1


def test_slices_of_a_volume_are_numbered_and_sort_in_anatomical_order() -> None:
    """Issue 15: a volume's rows differ by more than a hidden Frame column; the number leads
    the File text (names are middle-elided) and sorting by File keeps z order."""
    from dataclasses import replace

    from PySide6.QtCore import Qt

    from desktop.ui.table.model import Column, ResultRow, ResultsModel
    from tests.ui.conftest import make_result

    vol = [
        replace(make_result("head.nii.gz", frame=z), case="head.nii.gz", slice_index=z)
        for z in (10, 2, 1)
    ]
    loose = make_result("a.jpg")
    model = ResultsModel()
    model.append_rows([ResultRow.from_result(r, None) for r in (*vol, loose)])
    texts = [model.index(i, Column.FILE).data(Qt.ItemDataRole.DisplayRole) for i in range(4)]
    assert texts == [
        "slice 11 · head.nii.gz",
        "slice 3 · head.nii.gz",
        "slice 2 · head.nii.gz",
        "a.jpg",
    ]
    keys = [model._sort_key(model._rows[i], Column.FILE) for i in range(3)]
    assert sorted(range(3), key=lambda i: keys[i]) == [2, 1, 0]
