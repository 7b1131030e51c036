"""What the benchmark ran on (CPU model, cores, Python, onnxruntime, load)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """1/5/15-minute load averages (a busy machine depresses every figure)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "onnxruntime": _version("onnxruntime"),
        "numpy": _version("numpy"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
        "pyside6": _version("PySide6-Essentials") or _version("PySide6"),
        "load_average_at_start": load_average(),
    }


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB (psutil or /proc)."""
    try:
        import psutil

        info = psutil.Process().memory_info()
        peak = getattr(info, "peak_wset", 0) or 0
        return info.rss / 2**20, max(info.rss, peak) / 2**20
    except ImportError:
        pass
    cur = peak = 0.0
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cur = peak
    return cur, max(cur, peak)
