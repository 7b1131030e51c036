"""The GUI measurements, in their own offscreen process (run by :mod:`desktop.bench.gui`).

    python -m desktop.bench.gui_child MODEL DROP_LIST OUT.json [VOLUME_LIST]

Start-up follows ``desktop.ui.app.run`` step for step (import the window, create the
application, load the model, build and show the window); "shown" is the first paint of
the results table. Then the paths listed in DROP_LIST are given to
``MainWindow.classify`` (what a drop calls) and the child records: the time to the
first paint that shows a row, and the longest gap of a 10 ms heartbeat timer on the GUI
thread until the run is idle. Only the standard library is imported before the app's
own modules, so start-up is not inflated by the benchmark.

With VOLUME_LIST (a NIfTI volume, then the files of a DICOM series) a second run follows:
the volume and the series are classified, the drop is classified again, and during that
run rows of the volume and of the series are selected in turn, the window/level and the
heat-map opacity changed (what a person does while a run goes on); its longest heartbeat
gap is ``gui_volume_stall_ms``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HEARTBEAT_MS = 10
#: one user action (select a row, change W/L or opacity) this often during the run
VOLUME_ACTION_MS = 250


def main(argv: list[str]) -> int:
    model, drop_list, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    volume_list = Path(argv[3]) if len(argv) > 3 else None
    from PySide6.QtCore import QEvent, QObject, QTimer

    from desktop.ui.app import application, build_window, freeze_startup_objects, load_classifier

    app = application(sys.argv[:1])
    classifier, error = load_classifier(model)
    if classifier is None:
        out.write_text(json.dumps({"error": error or "no model"}), encoding="utf-8")
        return 2
    window = build_window(classifier, model_error=error)  # as desktop.ui.app.run does
    state: dict[str, Any] = {"shown": None, "drop": None, "rows_at": None, "first_row": None}
    beats: list[float] = []

    class Painted(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint:
                now = time.time()
                if state["shown"] is None:
                    state["shown"] = now
                    QTimer.singleShot(300, start_run)
                elif state["rows_at"] is not None and state["first_row"] is None:
                    state["first_row"] = now
            return False

    def on_rows(*_: Any) -> None:
        if state["rows_at"] is None:
            state["rows_at"] = time.time()

    def beat() -> None:
        beats.append(time.perf_counter())

    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)

    def start_run() -> None:
        paths = drop_list.read_text(encoding="utf-8").splitlines()
        heartbeat.start()
        beats.append(time.perf_counter())
        state["drop"] = time.time()
        state["t0"] = time.perf_counter()
        window.classify(paths)

    def on_idle(cancelled: bool) -> None:
        if state.get("phase") == "volumes-load":
            start_volume_run()
            return
        heartbeat.stop()
        beats.append(time.perf_counter())
        gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
        if state.get("phase") == "volumes-run":
            volume_timer.stop()
            res = state["res"]
            res["gui_volume_stall_ms"] = 1000 * max(gaps) if gaps else None
            res["gui_volume_actions"] = state["actions"]
            res["gui_volume_preview_reads"] = window.preview.loader.reads
            finish(res)
            return
        rows = window.model.rowCount()
        dt = time.perf_counter() - state["t0"]
        first = state["first_row"] or state["rows_at"]
        res = {
            "shown_epoch": state["shown"],
            "first_row_s": None if first is None else first - state["drop"],
            "gui_max_stall_ms": 1000 * max(gaps) if gaps else None,
            "gui_p99_gap_ms": 1000 * sorted(gaps)[int(0.99 * (len(gaps) - 1))] if gaps else None,
            "gui_rows": rows,
            "gui_img_s": rows / dt if dt > 0 else None,
            "cancelled": cancelled,
        }
        if volume_list is None:
            finish(res)
            return
        # second run: the preview scenario (volume and series rows selected during a run)
        state["res"], state["phase"] = res, "volumes-load"
        window.clear_all()
        window.classify(volume_list.read_text(encoding="utf-8").splitlines())

    def finish(res: dict[str, Any]) -> None:
        out.write_text(json.dumps(res), encoding="utf-8")
        app.quit()

    def start_volume_run() -> None:
        model_rows = window.model.rowCount()
        results = window.model.results()
        first_path = results[0].path if results else ""
        state["volume_rows"] = [i for i, r in enumerate(results) if r.path == first_path]
        state["series_rows"] = [i for i, r in enumerate(results) if r.path != first_path]
        state["volume_rows_total"] = model_rows
        state["phase"], state["actions"], state["step"] = "volumes-run", 0, 0
        beats.clear()
        heartbeat.start()
        beats.append(time.perf_counter())
        window.classify(drop_list.read_text(encoding="utf-8").splitlines())
        volume_timer.start()

    def volume_action() -> None:
        """One thing a person does: select a volume row, a series row, change W/L, opacity."""
        step = state["step"]
        state["step"] += 1
        kind = step % 4
        rows = state["volume_rows"] if kind in (0, 2) else state["series_rows"]
        if kind in (0, 1) and rows:
            source_row = rows[(step * 7) % len(rows)]
            index = window.proxy.mapFromSource(window.model.index(source_row, 0))
            if index.isValid():
                window.table.selectRow(index.row())
        elif kind == 2:
            bar = window.preview.window_level
            if bar.isVisible():
                w = bar.current()
                bar.set_window(type(w)(w.centre * (0.9 + 0.05 * (step % 5)), w.width))
        else:
            op = window.preview.opacity
            op.setValue((op.value() + 17) % 100)
        state["actions"] += 1

    volume_timer = QTimer()
    volume_timer.setInterval(VOLUME_ACTION_MS)
    volume_timer.timeout.connect(volume_action)

    painted = Painted()
    window.table.viewport().installEventFilter(painted)
    window.model.rowsInserted.connect(on_rows)
    window.controller.idle.connect(on_idle)
    window.show()
    QTimer.singleShot(200, freeze_startup_objects)  # as desktop.ui.app.run
    code = int(app.exec())
    window.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
