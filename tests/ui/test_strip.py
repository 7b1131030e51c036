"""The slice strip (issue 15.3): the current case's calls along z under the preview."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QHelpEvent
from PySide6.QtWidgets import QApplication, QWidget

from desktop.core.model_spec import CLASS_NAMES, CaseRule
from desktop.core.results import SliceResult, Status
from desktop.ui.main_window import MainWindow
from desktop.ui.preview.strip import STRIP_HELP, SliceStrip
from desktop.ui.preview.strip_data import ERROR_FILL, UNSUPPORTED_FILL, CellState, strip_data
from desktop.ui.vocabulary import class_colour
from desktop.ui.worker import to_row
from tests.ui.conftest import make_result, wait_preview

GLIOMA = (0.93, 0.03, 0.02, 0.02)  # glioma, meningioma, no_tumor, pituitary
CLEAR = (0.02, 0.03, 0.9, 0.05)
DOUBT = (0.45, 0.1, 0.4, 0.05)  # uncertain, best guess glioma


def sliced(
    case: str, index: int, probs=CLEAR, status: Status = Status.OK, name: str = ""
) -> SliceResult:
    r = make_result(name or f"s{index}.dcm", status, probs=probs, folder=f"/data/{case}")
    if status is Status.UNSUPPORTED:
        r = replace(r, message="blank image")
    return replace(r, case=case, slice_index=index)


def volume(case: str = "vol", n: int = 10, tumour: range = range(3, 7)) -> list[SliceResult]:
    return [sliced(case, k, GLIOMA if k in tumour else CLEAR) for k in range(n)]


# -- the drawing data ----------------------------------------------------------------------
def test_strip_data_colours_states_suspect_range_and_gaps() -> None:
    rows = volume(n=8, tumour=range(2, 5))
    rows[6] = sliced("vol", 6, DOUBT, Status.UNCERTAIN)
    rows[7] = sliced("vol", 7, None, Status.UNSUPPORTED)
    rows.append(sliced("vol", 9, None, Status.ERROR))  # slice 8 has no row
    data = strip_data(reversed(rows), CLASS_NAMES, CaseRule(), "vol")  # any order in
    states = [c.state for c in data.cells]
    assert [c.slice_index for c in data.cells] == list(range(10))
    assert states == [CellState.FIRM] * 6 + [
        CellState.UNCERTAIN,
        CellState.UNSUPPORTED,
        CellState.EMPTY,
        CellState.ERROR,
    ]
    glioma, clear = class_colour("glioma").name(), class_colour("no_tumor").name()
    assert [c.fill for c in data.cells[:6]] == [clear, clear, glioma, glioma, glioma, clear]
    # uncertain: the best guess's colour, pale, hatched; the others grey / dark / empty
    pale = QColor(data.cells[6].fill)
    assert data.cells[6].class_name == "glioma" and data.cells[6].hatched
    assert pale.lightness() > class_colour("glioma").lightness()
    assert pale.hue() == pytest.approx(class_colour("glioma").hue(), abs=3)
    assert [c.fill for c in data.cells[7:]] == [UNSUPPORTED_FILL, "", ERROR_FILL]
    assert data.suspect == (2, 4)  # three adjacent tumour slices: the default rule's run
    assert data.rows == 9
    assert data.cells[3].tooltip == "slice 4: glioma 0.93, ok"
    assert data.cells[6].tooltip == "slice 7: glioma? 0.45, uncertain"
    assert data.cells[7].tooltip == "slice 8: unsupported (blank image)"
    assert data.cells[8].tooltip.startswith("slice 9: no result")
    assert data.caption == (
        "vol · 9 of 10 slices classified · tumour suspected (glioma), slices 3-5"
    )
    legend = [(words, hatched) for _, hatched, words in data.legend]
    assert legend == [
        ("no tumor", False),
        ("glioma", False),
        ("glioma?", True),  # an uncertain slice's best guess, as the table says it
        ("unsupported", False),
        ("error", False),
        ("no result", False),
    ]
    assert data.legend[1][0] == glioma and data.legend[2][0] == data.cells[6].fill


def test_strip_data_of_a_clear_case_has_no_suspect_range() -> None:
    data = strip_data(volume(n=5, tumour=range(0)), CLASS_NAMES, CaseRule(), "vol")
    assert data.suspect is None
    assert data.caption == "vol · 5 slices · no tumour"
    # two tumour slices are no run of three: coloured, but not bracketed
    data = strip_data(volume(n=6, tumour=range(2, 4)), CLASS_NAMES, CaseRule(), "vol")
    assert data.suspect is None
    assert [c.class_name for c in data.cells].count("glioma") == 2


def test_strip_data_follows_the_models_rule() -> None:
    rows = volume(n=6, tumour=range(2, 4))
    assert strip_data(rows, CLASS_NAMES, CaseRule(min_run=2), "v").suspect == (2, 3)
    assert strip_data(rows, CLASS_NAMES, CaseRule(min_run=3), "v").suspect is None


# -- the widget ------------------------------------------------------------------------------
def test_the_strip_hides_for_no_case_and_a_single_image(qtbot) -> None:
    strip = SliceStrip()
    qtbot.addWidget(strip)
    strip.set_data(strip_data(volume(n=4), CLASS_NAMES, CaseRule(), "vol"))
    assert not strip.isHidden()
    strip.set_data(strip_data([sliced("one.png", 0)], CLASS_NAMES, CaseRule(), "one.png"))
    assert strip.isHidden()
    strip.set_data(None)
    assert strip.isHidden()


def test_a_narrow_strip_elides_the_case_name_not_the_verdict(qtbot) -> None:
    rows = volume("Brats18_2013_2_1_t1ce_a_long_name.nii.gz", n=12, tumour=range(4, 9))
    data = strip_data(rows, CLASS_NAMES, CaseRule())
    strip = SliceStrip()
    qtbot.addWidget(strip)
    strip.set_data(data)
    bold = QFont(strip.font())
    bold.setBold(True)
    head = QFontMetricsF(bold).horizontalAdvance(data.headline)
    count = QFontMetricsF(strip.font()).horizontalAdvance(" · 12 slices")
    assert data.headline == "tumour suspected (glioma), slices 5-9"
    verdict, name = strip.caption_parts(head + count + 100)
    assert verdict == data.headline  # whole
    assert name.startswith(" · Br") and "…" in name and name.endswith(" · 12 slices")
    assert strip.caption_parts(head + count + 2) == (data.headline, " · 12 slices")
    assert strip.caption_parts(head + 2) == (data.headline, "")
    assert strip.caption_parts(head + count + 2000) == (data.headline, f" · {data.about}")


def test_620_slices_are_painted_by_the_strip_itself(qtbot) -> None:
    """One widget, no child per slice; the cells' colours are where the cells are."""
    rows = volume(n=620, tumour=range(300, 360))
    strip = SliceStrip()
    qtbot.addWidget(strip)
    strip.resize(500, strip.sizeHint().height())
    strip.set_data(strip_data(rows, CLASS_NAMES, CaseRule(), "vol"))
    strip.set_current(100)
    strip.show()
    qtbot.waitExposed(strip)
    assert strip.findChildren(QWidget) == []
    image = strip.grab().toImage()
    y = int(strip.cell_rect(0).center().y())

    def colour_at(k: int) -> str:
        x = int(strip.cell_rect(k).center().x())
        return image.pixelColor(x * image.width() // strip.width(), y).name()

    assert colour_at(330) == class_colour("glioma").name()
    assert colour_at(500) == class_colour("no_tumor").name()
    assert colour_at(10) == class_colour("no_tumor").name()
    assert strip.cell_at(strip.cell_rect(330).center().x()) == 330


# -- in the window -----------------------------------------------------------------------------
@pytest.fixture
def window(qtbot, data_dir) -> MainWindow:
    w = MainWindow(None)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _current(window: MainWindow) -> SliceResult:
    result = window.proxy.result_at(window.table.currentIndex().row())
    assert result is not None
    return result


def _click(qtbot, strip: SliceStrip, k: int) -> None:
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.cell_rect(k).center().toPoint())


def test_a_click_on_cell_k_selects_slice_k_in_table_and_preview(qtbot, window) -> None:
    rows = volume(n=30, tumour=range(10, 20))
    rows.insert(5, sliced("other", 0, name="other.png"))  # another case among the rows
    window.model.append_rows([to_row(r) for r in rows])
    window.table.selectRow(0)
    strip = window.preview.strip
    assert strip.isVisible() and strip.data is not None
    assert len(strip.data.cells) == 30 and strip.data.suspect == (10, 19)
    _click(qtbot, strip, 17)
    assert (_current(window).case, _current(window).slice_index) == ("vol", 17)
    assert window.preview.result is not None and window.preview.result.slice_index == 17
    assert strip.current == 17
    # a drag runs through the slices
    qtbot.mousePress(strip, Qt.MouseButton.LeftButton, pos=strip.cell_rect(3).center().toPoint())
    assert _current(window).slice_index == 3
    qtbot.mouseMove(strip, strip.cell_rect(8).center().toPoint())
    assert _current(window).slice_index == 8
    qtbot.mouseRelease(strip, Qt.MouseButton.LeftButton, pos=strip.cell_rect(8).center().toPoint())
    # the table's selection is a row of this case only
    assert {window.proxy.result_at(i.row()).case for i in window.table.selectedIndexes()} == {"vol"}
    wait_preview(qtbot, window.preview)


def test_a_click_on_a_hidden_slice_selects_the_nearest_shown_one(qtbot, window) -> None:
    rows = volume(n=10, tumour=range(0))
    rows[4] = sliced("vol", 4, None, Status.UNSUPPORTED)
    window.model.append_rows([to_row(r) for r in rows])
    window.proxy.set_status_filter(Status.OK)
    window.table.selectRow(0)
    _click(qtbot, window.preview.strip, 4)
    assert _current(window).slice_index in (3, 5)
    wait_preview(qtbot, window.preview)


def test_the_strip_fills_as_rows_stream_in_and_follows_removals(qtbot, window) -> None:
    rows = volume(n=12, tumour=range(6, 10))
    window.model.append_rows([to_row(r) for r in rows[:4]])
    window.table.selectRow(0)
    strip = window.preview.strip
    assert strip.data is not None and len(strip.data.cells) == 4
    assert strip.data.suspect is None
    window.model.append_rows([to_row(sliced("else", 0, name="else.png"))])  # another case
    window.model.append_rows([to_row(r) for r in rows[4:9]])
    assert len(strip.data.cells) == 9
    assert strip.data.suspect == (6, 8)
    window.model.append_rows([to_row(r) for r in rows[9:]])
    assert len(strip.data.cells) == 12 and strip.data.suspect == (6, 9)
    assert strip.data.caption.endswith("tumour suspected (glioma), slices 7-10")
    # removing rows of the case empties their cells; the current row stays
    window.model.remove_rows([7, 8])  # slices 6 and 7 (row 4 is the other case)
    states = [c.state for c in strip.data.cells]
    assert states.count(CellState.EMPTY) == 2
    window.clear_all()
    assert strip.isHidden()
    wait_preview(qtbot, window.preview)


def test_the_strip_follows_the_current_case(qtbot, window) -> None:
    rows = volume("A", n=5) + volume("B", n=8, tumour=range(0)) + [sliced("c", 0, name="c.png")]
    window.model.append_rows([to_row(r) for r in rows])
    strip = window.preview.strip
    window.table.selectRow(6)  # B, slice 1
    assert strip.data is not None and strip.data.case == "B" and strip.current == 1
    qtbot.keyClick(window.preview.view, Qt.Key.Key_Down)  # stepping moves the marker
    assert strip.current == 2
    window.table.selectRow(13)  # a single image: no strip
    assert strip.isHidden()
    window.table.selectRow(0)
    assert strip.data.case == "A" and not strip.isHidden()
    wait_preview(qtbot, window.preview)


def test_each_cell_has_its_tooltip(qtbot, monkeypatch) -> None:
    from desktop.ui.preview import strip as strip_module

    shown: list[str] = []

    class Tip:  # the offscreen platform warns when a real tooltip is raised
        @staticmethod
        def showText(_pos, text, _widget=None) -> None:  # noqa: N802 - Qt's name
            shown.append(text)

        @staticmethod
        def hideText() -> None:  # noqa: N802
            shown.append("")

    monkeypatch.setattr(strip_module, "QToolTip", Tip)
    strip = SliceStrip()
    qtbot.addWidget(strip)
    strip.resize(300, strip.sizeHint().height())
    strip.set_data(strip_data(volume(n=6, tumour=range(2, 5)), CLASS_NAMES, CaseRule(), "v"))
    strip.show()
    qtbot.waitExposed(strip)
    pos = strip.cell_rect(3).center().toPoint()
    QApplication.sendEvent(strip, QHelpEvent(QEvent.Type.ToolTip, pos, strip.mapToGlobal(pos)))
    pos = strip.cell_rect(0).center().toPoint()
    QApplication.sendEvent(strip, QHelpEvent(QEvent.Type.ToolTip, pos, strip.mapToGlobal(pos)))
    assert shown == ["slice 4: glioma 0.93, ok", "slice 1: no tumor 0.90, ok"]
    # away from the cells (the caption, the legend): what the strip is
    assert strip.tooltip_at(pos.x(), strip.height() - 2) == STRIP_HELP


def test_the_preview_title_numbers_the_slice_as_the_table_does(qtbot, window) -> None:
    """The table says "slice 4 · s3.dcm"; the preview said "frame 0" for every file."""
    window.model.append_rows([to_row(r) for r in volume(n=5)])
    window.table.selectRow(3)
    assert "slice 4" in window.preview.title.text()
    assert "frame" not in window.preview.title.text()
    window.model.append_rows([to_row(make_result("one.png", frame=0))])
    window.table.selectRow(5)
    assert "slice" not in window.preview.title.text()
    wait_preview(qtbot, window.preview)
