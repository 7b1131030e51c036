"""Long-run soak of the UI controller, offscreen: many slices, cancel and restart in a row.

Generates ``--slices`` small slices (multi-frame DICOM files plus single PNGs), then via
``desktop.ui.controller.RunController`` (the window's own job runner):

1. a warm-up run cancelled after ``--cancel-after`` rows (caches, onnxruntime
   arenas) -> RSS baseline;
2. ``--cycles`` times in a row: start, cancel after ``--cancel-after`` rows, wait for
   idle, release the files (as "clear all" does) and start again at once;
3. one full run over every slice (RSS sampled every 1,000 rows); then the threads
   still alive and the RSS growth over the baseline.

Rows are counted and dropped (the table would keep them by design; this measures the
machinery). Prints a JSON summary. Usage:

    python -m tests.model_factory /tmp/tm.onnx
    QT_QPA_PLATFORM=offscreen python scripts/soak.py --model /tmp/tm.onnx
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop, QThreadPool, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.core.classifier import Classifier  # noqa: E402
from desktop.core.pipeline import Pipeline  # noqa: E402
from desktop.ui.controller import RunController  # noqa: E402
from tests.phantoms import brain_like  # noqa: E402

FRAMES_PER_DICOM = 25


def rss_mb() -> float:
    """Resident set size now (Linux /proc; falls back to the peak from getrusage)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def log(text: str) -> None:
    """Progress on stderr (the JSON summary goes to stdout at the end)."""
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def slice_image(k: int, size: int) -> np.ndarray:
    return brain_like(size, seed=k)


def make_corpus(root: Path, slices: int, size: int) -> int:
    """Multi-frame DICOM files (``FRAMES_PER_DICOM`` each) and PNGs; the slice count."""
    from tests.core.factories import make_dicom, write_dicom

    n_dicom = (slices * 9 // 10) // FRAMES_PER_DICOM
    for f in range(n_dicom):
        frames = np.stack([slice_image(f * 1000 + k, size) for k in range(FRAMES_PER_DICOM)])
        write_dicom(root / f"series_{f:03d}.dcm", make_dicom(frames.astype(np.uint16) * 16))
    n_png = slices - n_dicom * FRAMES_PER_DICOM
    for k in range(n_png):
        ok, buf = cv2.imencode(".png", slice_image(10**6 + k, size))
        (root / f"slice_{k:05d}.png").write_bytes(buf.tobytes())
    return n_dicom * FRAMES_PER_DICOM + n_png


class Soak:
    def __init__(self, controller: RunController) -> None:
        self.c = controller
        self.rows = 0
        self.paths: set[str] = set()
        self.cancel_after: int | None = None
        self.rss_samples: list[float] = []
        self.loop = QEventLoop()
        controller.rows_arrived.connect(self._rows)
        controller.idle.connect(lambda cancelled: self.loop.quit())

    def _rows(self, rows: list) -> None:  # type: ignore[type-arg]
        self.rows += len(rows)
        self.paths.update(r.result.path for r in rows)
        if self.rows // 1000 > len(self.rss_samples):
            self.rss_samples.append(round(rss_mb(), 1))
            log(f"{self.rows} rows, RSS {self.rss_samples[-1]} MB")
        if self.cancel_after is not None and self.rows >= self.cancel_after:
            self.cancel_after = None
            self.c.cancel()

    def run(self, folder: Path, cancel_after: int | None, timeout_s: float) -> tuple[int, float]:
        """One job; (rows, seconds). Afterwards every file may be classified again."""
        self.rows, self.cancel_after, self.rss_samples = 0, cancel_after, []
        start = time.monotonic()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(self.loop.quit)
        timer.start(int(timeout_s * 1000))
        assert self.c.enqueue([folder])
        self.loop.exec()
        if self.c.is_busy():
            raise SystemExit(f"run did not finish within {timeout_s:g} s")
        self.c.release(self.paths)  # as "clear all" in the window
        self.paths.clear()
        return self.rows, time.monotonic() - start


def leftover_threads(settle_s: float = 5.0) -> tuple[list[str], int]:
    """Worker/reader threads still alive after up to ``settle_s`` s, and the pool's count."""
    pool = QThreadPool.globalInstance()
    deadline = time.monotonic() + settle_s
    while True:
        QCoreApplication.processEvents()
        # Qt's pool threads show up as threading._DummyThread once they ran Python code;
        # Python never removes those entries, so they are reported apart (see the pool count)
        names = [
            t.name
            for t in threading.enumerate()
            if t is not threading.main_thread() and not isinstance(t, threading._DummyThread)
        ]
        busy = pool.activeThreadCount()
        if (not names and busy == 0) or time.monotonic() > deadline:
            return names, busy
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--slices", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=64, help="slice side in pixels")
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--cancel-after", type=int, default=300, help="rows before each cancel")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    args = ap.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    clf = Classifier.load(args.model)
    report: dict[str, object] = {"model": str(args.model), "pid": os.getpid()}
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        t0 = time.monotonic()
        report["slices"] = make_corpus(folder, args.slices, args.size)
        report["files"] = len(list(folder.iterdir()))
        report["generate_s"] = round(time.monotonic() - t0, 1)
        log(f"generated {report['slices']} slices in {report['files']} files")
        threads_before = sorted(t.name for t in threading.enumerate())
        soak = Soak(RunController(Pipeline(clf), parent=app))

        rows, secs = soak.run(folder, args.cancel_after, args.timeout)
        gc.collect()
        rss_base = rss_mb()
        report["warmup_run"] = {"rows": rows, "seconds": round(secs, 1), "cancelled": True}
        report["rss_after_warmup_mb"] = round(rss_base, 1)
        log(f"warm-up: {report['warmup_run']}, RSS {rss_base:.1f} MB")
        cycles = []
        for _ in range(args.cycles):
            rows, secs = soak.run(folder, args.cancel_after, args.timeout)
            cycles.append({"rows": rows, "seconds": round(secs, 2), "rss_mb": round(rss_mb(), 1)})
            log(f"cycle {len(cycles)}: {cycles[-1]}")
        report["cancel_restart_cycles"] = cycles
        rows, secs = soak.run(folder, None, args.timeout)
        report["final_run"] = {
            "rows": rows,
            "seconds": round(secs, 1),
            "rss_mb_every_1000_rows": soak.rss_samples,
        }
        gc.collect()
        names, busy = leftover_threads()
        rss_end = rss_mb()
        report["threads_before"] = threads_before
        report["threads_left"] = names
        report["qt_pool_dummy_threads"] = sum(
            isinstance(t, threading._DummyThread) for t in threading.enumerate()
        )
        report["qthreadpool_active"] = busy
        report["rss_end_mb"] = round(rss_end, 1)
        report["rss_growth_mb"] = round(rss_end - rss_base, 1)
        report["full_run_complete"] = rows == report["slices"]
    print(json.dumps(report, indent=2))
    ok = report["full_run_complete"] and not names and busy == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
