"""PyTorch eager rate of the same network, from ``scripts/bench_torch.py`` in a subprocess.

Nothing in ``desktop`` imports torch or ``training``: the measurement lives outside the
package and is skipped, with a note, when the script, torch or ``training`` is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_torch.py"


def torch_eager(arch: str, size: int, seconds: float, timeout: float = 900.0) -> dict[str, Any]:
    """{"img_s", "batch", ...} or {"skipped": reason}."""
    if not SCRIPT.is_file():
        return {"skipped": "scripts/bench_torch.py not present (not a source checkout)"}
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--arch",
        arch,
        "--size",
        str(size),
        "--seconds",
        str(seconds),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"skipped": f"PyTorch eager run took longer than {timeout:g} s"}
    lines = proc.stdout.strip().splitlines()
    if not lines:
        return {
            "skipped": f"PyTorch eager run failed (exit {proc.returncode}): {proc.stderr[-500:]}"
        }
    out: dict[str, Any] = json.loads(lines[-1])
    return out
