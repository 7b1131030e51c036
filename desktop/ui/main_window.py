"""The main window: actions, menus, toolbar, drag-and-drop, status bar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QSize, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__
from desktop.core.cases import Case, CaseKind
from desktop.core.model_spec import CLASS_NAMES, CaseRule
from desktop.core.results import SliceResult, Status
from desktop.core.verdict import CaseReport
from desktop.ui.actions import install_menus, install_toolbar, make_action
from desktop.ui.cases.model import CaseEntry, CaseListModel
from desktop.ui.cases.panel import CasePanel
from desktop.ui.cases.review import CaseReview
from desktop.ui.controller import Progress, RunController, not_found_text
from desktop.ui.export_dialog import ExportFormat, export_cases, export_results
from desktop.ui.preview.pane import PreviewPane
from desktop.ui.preview.strip_feed import CaseStripFeed, proxy_row_of_slice
from desktop.ui.review.controller import ReviewController
from desktop.ui.table.case_counts import CaseCounts, case_key
from desktop.ui.table.model import ResultsModel
from desktop.ui.table.proxy import ResultsProxy
from desktop.ui.table.widgets import Banner, FilterBar, ProgressPanel, ResultsTable
from desktop.ui.vocabulary import STATUS_WORDS
from desktop.ui.worker import PipelineLike

if TYPE_CHECKING:  # onnxruntime is not imported to draw the window
    from desktop.core.classifier import Classifier

NOTICE_LINE = "Research use only - not for diagnostic use."
IDENTIFIERS_ON = (
    "Exports include patient identifiers (DICOM patient ID and study date) until the app "
    "is closed - switch this off in the File menu."
)
NO_MODEL = "No model installed - files cannot be classified."
BROKEN_MODEL = "The model could not be loaded - files cannot be classified."
#: "All files" first: DICOM files often have no extension (IM1, IM2, ...)
FILE_FILTER = (
    "All files (*);;Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.dcm *.dicom *.nii *.nii.gz)"
)
#: the preview's share of the window's width at first (the table gets the rest)
PREVIEW_WIDTH = 440
#: the case list's height at first (six cases and the decision bar; the slices get the rest)
CASE_LIST_HEIGHT = 250
#: settings key: the folder of the last export (exports and heat maps are offered there)
EXPORT_FOLDER_KEY = "export/last_folder"


class MainWindow(QMainWindow):
    """Drop or open files; results stream into the table; select a row to preview it."""

    def __init__(
        self,
        classifier: Classifier | None = None,
        pipeline: PipelineLike | None = None,
        model_error: str | None = None,
        parent: QWidget | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        """``classifier`` and the ``pipeline`` that runs it are made by the caller
        (:func:`desktop.ui.app.build_window`); without a pipeline nothing is classified."""
        super().__init__(parent)
        self.classifier = classifier
        spec = classifier.spec if classifier is not None else None
        class_names = tuple(spec.class_names) if spec is not None else CLASS_NAMES
        self.setWindowTitle("Brain MRI Review")
        screen = self.screen()
        self.resize(*default_size(screen.availableGeometry().size() if screen else None))
        self.setAcceptDrops(True)

        self.model = ResultsModel(class_names, self)
        # before the proxy: its row signals reach the case counts first
        self.case_rule = spec.case_rule if spec else CaseRule()
        self.cases = CaseCounts(self.model, class_names, self.case_rule)
        # the case list too: the slice table may filter by what it knows of each case
        self.case_list = CaseListModel(self.cases, parent=self)
        self._first_pending = False  # the first row is about to be selected
        #: the automatic first-row selection draws its preview one event-loop turn later
        self._defer_preview = False
        self._pending_preview: SliceResult | None = None  # waits for the next turn
        self.proxy = ResultsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.controller = RunController(pipeline, parent=self)
        self.table = ResultsTable()
        self.table.setModel(self.proxy)
        self.table.apply_default_widths()
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until asked
        self.filters = FilterBar(class_names)
        self.preview = PreviewPane(class_names, spec.preprocessing if spec else None)
        self.strip_feed = CaseStripFeed(self.cases, self.preview.strip, self)
        self.progress = ProgressPanel()
        self.counts = QLabel()
        self.model_label = QLabel()
        # reviewer decisions, kept in the user's data folder (data_dir overrides it)
        self.review = ReviewController(
            self,
            self.model,
            self.proxy,
            self.table,
            self.preview.review,
            lambda text: self.statusBar().showMessage(text, 8000),
            data_dir,
        )
        self.review.cases_text = self.cases.text
        self.case_panel = CasePanel(self.case_list, class_names, self.case_rule.negative_class)
        self.case_review = CaseReview(
            self,
            self.case_list,
            self.case_panel,
            lambda: self.review.store,
            lambda text: self.statusBar().showMessage(text, 8000),
            self.review.problem,
        )
        self.review.case_decisions_text = self.case_review.summary_text
        self._build_layout(model_error)
        self._build_actions()
        self._connect()
        self._update_counts()
        self._set_busy(False)

    # -- construction -------------------------------------------------------------------
    def _build_layout(self, model_error: str | None) -> None:
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.notice = Banner(NOTICE_LINE, "#fff4ce", "#5c4400")
        self.notice.setToolTip(_notice_text())
        lay.addWidget(self.notice)
        #: shown while exports carry patient identifiers (on for this session only)
        self.identifiers_banner = Banner(IDENTIFIERS_ON, "#fde7e9", "#8a1020")
        self.identifiers_banner.setVisible(self.review.include_identifiers)
        self.review.identifiers_changed.connect(self.identifiers_banner.setVisible)
        lay.addWidget(self.identifiers_banner)
        self.model_banner: Banner | None = None
        if not self.controller.can_classify:
            self.model_banner = Banner(
                f"{BROKEN_MODEL} Reason: {model_error}" if model_error else NO_MODEL,
                "#fde7e9",
                "#8a1020",
            )
            lay.addWidget(self.model_banner)
            self.table.empty_hint = (BROKEN_MODEL if model_error else NO_MODEL) + (
                "\nStart with --model PATH to choose a model file."
            )
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.setSpacing(0)
        left_lay.addWidget(self.filters)
        left_lay.addWidget(self.table, 1)
        # cases above their slices: the first question is which case, then where
        self.left_splitter = QSplitter(Qt.Orientation.Vertical)
        self.left_splitter.addWidget(self.case_panel)
        self.left_splitter.addWidget(left)
        self.left_splitter.setStretchFactor(0, 1)
        self.left_splitter.setStretchFactor(1, 3)
        self.left_splitter.setSizes([CASE_LIST_HEIGHT, max(200, self.height() - CASE_LIST_HEIGHT)])
        self.left_splitter.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left_splitter)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        table_width = max(self.width() - PREVIEW_WIDTH, self.width() * 3 // 5)
        self.splitter.setSizes([table_width, self.width() - table_width])
        self.splitter.setChildrenCollapsible(False)
        lay.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        sb = self.statusBar()
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.counts)
        sb.addPermanentWidget(self.model_label)
        if self.classifier is not None:
            path = Path(self.classifier.path)
            self.model_label.setText(f"Model: {path.name}")
            self.model_label.setToolTip(f"{path}\nsha256 {self.classifier.sha256}")
        else:
            self.model_label.setText("No model")

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        key = QKeySequence.StandardKey

        def act(text: str, icon: Any, shortcut: Any, slot: Any) -> QAction:
            return make_action(self, text, icon, shortcut, slot)

        self.open_files_action = act(
            "&Open Files…", sp.SP_DialogOpenButton, key.Open, self.open_files
        )
        self.open_folder_action = act(
            "Open &Folder…", sp.SP_DirOpenIcon, "Ctrl+Shift+O", self.open_folder
        )
        self.cancel_action = act("&Cancel", sp.SP_BrowserStop, "Esc", self.controller.cancel)
        self.export_csv_action = act(
            "Export &CSV…", sp.SP_DialogSaveButton, "Ctrl+E", lambda: self.export("csv")
        )
        self.export_json_action = act(
            "Export &JSON…", sp.SP_DialogSaveButton, "Ctrl+Shift+E", lambda: self.export("json")
        )
        self.remove_action = act(
            "&Remove Selected Rows", sp.SP_TrashIcon, key.Delete, self.remove_selected
        )
        # Delete acts on the table only (in the search box it deletes text)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.table.addAction(self.remove_action)
        self.clear_action = act("C&lear All", None, None, self.clear_all)
        # the case's slices from anywhere in the window (in the table the arrows move rows)
        self.previous_slice_action = act(
            "&Previous Slice of Case", None, "Alt+Up", lambda: self.step_case(-1)
        )
        self.next_slice_action = act(
            "&Next Slice of Case", None, "Alt+Down", lambda: self.step_case(1)
        )
        self.case_list_action = act("Case &List", None, "Ctrl+L", self.focus_case_list)
        self.all_cases_action = act(
            "&All Cases' Slices", None, "Ctrl+Shift+L", self.case_panel.show_all
        )
        self.export_cases_csv_action = act(
            "Export C&ases CSV…", None, None, lambda: self.export_cases("csv")
        )
        self.export_cases_json_action = act(
            "Export Cases JS&ON…", None, None, lambda: self.export_cases("json")
        )
        self.case_order_action = act("&Case Order", None, None, self.sort_by_case)
        self.case_order_action.setStatusTip(
            "Rows in the order the cases arrived, each case's slices in anatomical order"
        )
        opens = [self.open_files_action, self.open_folder_action]
        exports = [self.export_csv_action, self.export_json_action]
        case_exports = [self.export_cases_csv_action, self.export_cases_json_action]
        quit_ = act("&Quit", None, key.Quit, self.close)
        install_menus(
            self,
            [
                (
                    "&File",
                    [*opens, None, *exports, *case_exports]
                    + [self.review.identifiers_action, None, quit_],
                ),
                ("&Edit", [self.cancel_action, self.remove_action, self.clear_action]),
                (
                    "&View",
                    [self.case_list_action, self.all_cases_action, None]
                    + [self.previous_slice_action, self.next_slice_action, self.case_order_action],
                ),
                ("&Review", self.review.menu()),
                ("&Help", [act("&About", None, None, self.about)]),
            ],
        )
        # Cancel sits beside the progress bar in the status bar (and Esc, Edit menu)
        install_toolbar(self, [*opens, None, *exports])

    def _connect(self) -> None:
        c = self.controller
        c.cases_planned.connect(self.case_list.add_cases)
        c.busy_changed.connect(self.case_list.set_busy)
        c.rows_arrived.connect(self._on_rows)
        c.progress_changed.connect(self._on_progress)
        c.busy_changed.connect(self._set_busy)
        c.notified.connect(lambda text: self.statusBar().showMessage(text, 8000))
        c.errored.connect(lambda text: QMessageBox.critical(self, "Classification failed", text))
        c.idle.connect(self._on_idle)
        self.progress.cancel_requested.connect(c.cancel)
        self.filters.class_changed.connect(self.proxy.set_class_filter)
        self.filters.status_changed.connect(self.proxy.set_status_filter)
        self.filters.text_changed.connect(self.proxy.set_text_filter)
        # the proxy drops its rows while the source still has them (rowsAboutToBeRemoved):
        # a Delete is counted again once the source model has removed them
        for sig in (
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.model.rowsRemoved,
            self.proxy.modelReset,
        ):
            sig.connect(self._update_counts)
        self.proxy.layoutChanged.connect(self._update_counts)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.preview.file_changed.connect(self.review.mark_changed)
        self.preview.step_requested.connect(self.step_case)
        self.case_panel.case_selected.connect(self.show_case)
        self.preview.strip.slice_chosen.connect(self.select_slice)
        self.preview.default_folder = self.save_folder

    # -- opening ------------------------------------------------------------------------
    def classify(self, paths: Sequence[str | Path]) -> bool:
        """Queue files and folders for classification (command line, dialogs, drops)."""
        return self.controller.enqueue(list(paths))

    def open_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open MRI files", "", FILE_FILTER)
        if files:
            self.classify(files)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of MRI files")
        if folder:
            self.classify([folder])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _has_local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.table.set_drop_active(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: Any) -> None:
        self.table.set_drop_active(False)

    def dragMoveEvent(self, event: Any) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.table.set_drop_active(False)
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.classify(paths)

    # -- results ------------------------------------------------------------------------
    def _on_rows(self, rows: list[Any]) -> None:
        self.model.append_rows(rows)
        if not self._first_pending and not self.table.currentIndex().isValid():
            # the first result appears in the preview at once, but in the next turn of the
            # event loop: the new rows are drawn first, and the preview's file read and
            # drawing do not add to the same stall of the window
            self._first_pending = True
            QTimer.singleShot(0, self._select_first)

    def _select_first(self) -> None:
        self._first_pending = False
        if not self.table.currentIndex().isValid() and self.proxy.rowCount():
            # the selection is drawn in this turn, the preview (a file read and the heat
            # map, ~15-20 ms) in the next: two short stalls of the window, not one long one
            self._defer_preview = True
            try:
                self.table.selectRow(0)
            finally:
                self._defer_preview = False

    def _on_progress(self, p: Progress) -> None:
        self.progress.update_progress(p)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_action.setEnabled(busy)

    def _on_idle(self, cancelled: bool) -> None:
        if self._first_pending:  # a run that ended within one turn of the event loop
            self._select_first()
        n = self.model.rowCount()
        text = f"Cancelled - {n:,} slice(s) kept" if cancelled else f"Done - {n:,} slice(s)"
        if self.controller.missing:
            text += f". {not_found_text(self.controller.missing)}"
        self.statusBar().showMessage(text, 0 if self.controller.missing else 8000)
        self._update_counts()

    def _update_counts(self, *_: object) -> None:
        total = self.model.rowCount()
        self.filters.set_counts(self.proxy.rowCount(), total)
        counts = self.model.status_counts()
        words = [f"{counts[s]:,} {STATUS_WORDS[s]}" for s in Status if counts[s]]
        slices = f"{total:,} slices" + (": " + " · ".join(words) if words else "")
        cases = self.cases.text()
        self.counts.setText(f"{cases} · {slices}" if cases else slices)
        has_rows = total > 0
        exports = (
            self.export_csv_action,
            self.export_json_action,
            self.export_cases_csv_action,
            self.export_cases_json_action,
            self.clear_action,
        )
        for a in (*exports, self.review.summary_action):
            a.setEnabled(has_rows)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        result = self.proxy.result_at(current.row()) if current.isValid() else None
        self.review.show_current(result)
        self.strip_feed.show(result)
        if self._defer_preview and result is not None:
            self._pending_preview = result
            QTimer.singleShot(0, self._show_pending_preview)
            return
        self._pending_preview = None  # a later choice replaces a deferred one
        self.preview.show_result(result)

    def step_case(self, step: int) -> bool:
        """Select the next (``step`` > 0) or previous slice of the current row's case in
        anatomical order, skipping slices the filters hide; False when there is none."""
        current = self.table.currentIndex()
        result = self.proxy.result_at(current.row()) if current.isValid() else None
        if result is None or step == 0:
            return False
        key, here = case_key(result), result.slice_index
        best: tuple[int, int] | None = None  # (distance, proxy row)
        for i in range(self.model.rowCount()):
            r = self.model.row_at(i).result
            if case_key(r) != key or (r.slice_index - here) * step <= 0:
                continue
            distance = abs(r.slice_index - here)
            if best is not None and distance >= best[0]:
                continue
            shown = self.proxy.mapFromSource(self.model.index(i, 0))
            if shown.isValid():
                best = (distance, shown.row())
        if best is None:
            return False
        self.table.selectRow(best[1])
        self.table.scrollTo(self.proxy.index(best[1], current.column()))
        return True

    # -- cases --------------------------------------------------------------------------
    def focus_case_list(self) -> None:
        """Ctrl+L: the keyboard goes to the case list (its keys decide on the case)."""
        view = self.case_panel.view
        view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if not view.currentIndex().isValid() and self.case_panel.proxy.rowCount():
            view.selectRow(0)

    def show_case(self, entry: CaseEntry | None) -> None:
        """Show only ``entry``'s slices in the table (None: all) and select its first
        suspect slice, else its first slice in anatomical order."""
        if entry is None:
            self.proxy.set_case_filter(None)
            return
        key, entry_of = entry.key, self.case_list.entry_key_of
        self.proxy.set_case_filter(lambda r: entry_of(r.case or r.path) == key)
        target = entry.first_suspect
        best: tuple[int, int] | None = None  # (slice index, proxy row)
        for row in range(self.proxy.rowCount()):
            r = self.proxy.result_at(row)
            if r is None:
                continue
            if r.slice_index == target:
                best = (r.slice_index, row)
                break
            if best is None or r.slice_index < best[0]:
                best = (r.slice_index, row)
        if best is not None:
            self.table.selectRow(best[1])
            self.table.scrollTo(self.proxy.index(best[1], 0))

    def case_reports(self) -> list[CaseReport]:
        """Every case with rows and its verdict, in the order their rows arrived."""
        self.cases.recount()
        out = []
        for key in self.cases.case_keys():
            verdict = self.cases.verdict(key)
            if verdict is None:
                continue
            case = self.case_list.cases.get(key)
            if case is None:  # rows added without a plan: what the case list made of them
                paths = tuple(dict.fromkeys(r.path for r in self.cases.results(key)))
                entry = self.case_list.entry_of(key)
                kind = entry.kind if entry is not None else CaseKind.IMAGE
                case = Case(key, entry.path if entry and entry.path else paths[0], kind, paths)
            out.append(CaseReport(case, verdict))
        return out

    def export_cases(self, kind: str) -> bool:
        """Export one row per case, with the reviewer's case decisions ("csv" | "json")."""
        reports = self.case_reports()
        if not reports:
            self.statusBar().showMessage("Nothing to export yet", 5000)
            return False
        path = export_cases(
            self,
            reports,
            self.classifier,
            ExportFormat(kind),
            self.case_rule,
            decisions=self.case_review.decisions(),
            folder=self.save_folder(),
        )
        if path is None:
            return False
        self.review.settings.setValue(EXPORT_FOLDER_KEY, str(Path(path).parent))
        self.review.settings.sync()
        self.statusBar().showMessage(f"Exported {len(reports):,} cases to {path}", 8000)
        return True

    def sort_by_case(self) -> None:
        """The table in arrival order (as the window starts): the worker sends a case's
        slices together and in anatomical order, so a volume reads top to bottom in z."""
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)

    def select_slice(self, index: int) -> bool:
        """Select slice ``index`` of the current row's case (the slice strip's click), or
        the nearest one the filters show; False when there is none."""
        current = self.table.currentIndex()
        result = self.proxy.result_at(current.row()) if current.isValid() else None
        if result is None:
            return False
        row = proxy_row_of_slice(self.model, self.proxy, case_key(result), index)
        if row is None:
            return False
        if row != current.row():
            self.table.selectRow(row)
            self.table.scrollTo(self.proxy.index(row, current.column()))
        return True

    @property
    def preview_pending(self) -> bool:
        """True while the first row's preview waits for the next event-loop turn."""
        return self._pending_preview is not None

    def _show_pending_preview(self) -> None:
        result, self._pending_preview = self._pending_preview, None
        if result is not None:
            self.preview.show_result(result)

    def remove_selected(self) -> None:
        rows = {self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()}
        if not rows:
            return
        removed = self.model.remove_rows(rows)
        left = self.model.paths()
        self.controller.release(r.result.path for r in removed if r.result.path not in left)
        self.statusBar().showMessage(f"Removed {len(removed):,} row(s)", 5000)

    def clear_all(self) -> None:
        self.case_panel.show_all()  # the next files' slices are not hidden by a case
        self.controller.release(self.model.paths())
        self.model.clear()
        self.preview.show_result(None)
        self.review.show_current(None)

    # -- export -------------------------------------------------------------------------
    def export(self, kind: str) -> bool:
        """Export all rows as CSV or JSON ("csv" | "json"); False if cancelled or failed."""
        results = self.model.results()
        if not results:
            self.statusBar().showMessage("Nothing to export yet", 5000)
            return False
        ids = self.review.include_identifiers
        path = export_results(
            self,
            results,
            self.classifier,
            ExportFormat(kind),
            decisions=self.review.decisions(),
            identifiers=ids,
            folder=self.save_folder(),
        )
        if path is None:
            return False
        self.review.settings.setValue(EXPORT_FOLDER_KEY, str(Path(path).parent))
        self.review.settings.sync()
        with_ids = " (with patient identifiers)" if ids else ""
        self.statusBar().showMessage(f"Exported {len(results):,} rows to {path}{with_ids}", 8000)
        return True

    def save_folder(self) -> str:
        """Where exports and saved heat maps go first: the last export's folder, else the
        user's documents (never the folder of the patient's images)."""
        last = str(self.review.settings.value(EXPORT_FOLDER_KEY, "") or "")
        if last and Path(last).is_dir():
            return last
        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return docs or str(Path.home())

    def about(self) -> None:
        QMessageBox.about(
            self, "About Brain MRI Review", f"Brain MRI Review {__version__}\n\n{_notice_text()}"
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.cancel()
        self.controller.wait(5000)
        self.review.close()
        super().closeEvent(event)


def default_size(available: QSize | None) -> tuple[int, int]:
    """The first window size: 1280 x 800, larger on large screens, never beyond the
    screen (room left for the title bar and the window frame): at 1366 x 768 the status
    bar with progress and Cancel stays on screen."""
    if available is None or available.isEmpty():
        return 1280, 800
    w = min(max(1280, available.width() * 9 // 10), available.width() - 16)
    h = min(max(800, available.height() * 9 // 10), available.height() - 40)
    return w, h


def _local_paths(mime: Any) -> list[str]:
    """The local files of a drag (one Qt call per URL: a drop may hold thousands)."""
    if mime is None or not mime.hasUrls():
        return []
    return [f for u in mime.urls() if (f := u.toLocalFile())]  # "" for non-local URLs


def _has_local_paths(mime: Any) -> bool:
    """Whether a drag holds a local file (stops at the first; called on drag-enter)."""
    return mime is not None and mime.hasUrls() and any(u.toLocalFile() for u in mime.urls())


def _notice_text() -> str:
    try:
        from desktop.core.resources import resource_path

        return resource_path("resources/notice.txt").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):  # the notice line is always shown; the text is a tooltip
        return NOTICE_LINE
