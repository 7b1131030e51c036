"""Runs :mod:`desktop.bench.gui_child` offscreen and reads back its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_child(
    module: str, args: Sequence[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``python -m module args``; (wall-clock time just before the start, result)."""
    full_env = {**os.environ, **(env or {})}
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    return t0, proc


def gui_figures(
    model: Path, drop: Sequence[Path], timeout: float = 1800.0, volumes: bool = True
) -> dict[str, Any]:
    """startup_s, first_row_s, gui_max_stall_ms (and extras) from one offscreen process;
    with ``volumes`` also gui_volume_stall_ms (the preview scenario, a second run)."""
    with tempfile.TemporaryDirectory(prefix="brain_mri_bench_gui_") as tmp:
        listing, out = Path(tmp) / "drop.txt", Path(tmp) / "gui.json"
        listing.write_text("\n".join(str(p) for p in drop), encoding="utf-8")
        args = [str(model), str(listing), str(out)]
        if volumes:
            from desktop.bench.volumes import series_files, write_volume

            vol = write_volume(Path(tmp) / "volume_256x256x180.nii.gz")
            series = series_files(Path(tmp) / "series")
            volume_list = Path(tmp) / "volumes.txt"
            volume_list.write_text("\n".join(str(p) for p in [vol, *series]), encoding="utf-8")
            args.append(str(volume_list))
        t0, proc = run_child(
            "desktop.bench.gui_child", args, timeout, env={"QT_QPA_PLATFORM": "offscreen"}
        )
        if not out.is_file():
            raise RuntimeError(f"GUI child failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        res: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if "error" in res:
        raise RuntimeError(f"GUI child: {res['error']}")
    shown = res.pop("shown_epoch")
    res["startup_s"] = None if shown is None else shown - t0
    return res


def rss_figures(
    model: Path, files: Sequence[Path], slices: int, timeout: float = 3600.0, rows: str = "table"
) -> dict[str, Any]:
    """peak_rss_mb, rss_growth_mb_per_1000 from a fresh headless process.

    ``rows``: "table" keeps rows as the results table does, "core" as the pipeline yields them.
    """
    with tempfile.TemporaryDirectory(prefix="brain_mri_bench_rss_") as tmp:
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(str(p) for p in files), encoding="utf-8")
        _, proc = run_child(
            "desktop.bench.headless", ["rss", str(model), str(listing), str(slices), rows], timeout
        )
    if proc.returncode != 0:
        raise RuntimeError(f"memory run failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out
