"""PyTorch eager images/s of a project network (used by ``python -m desktop.bench``).

    .venv/bin/python scripts/bench_torch.py --arch efficientnet_b0 --size 112

Prints one JSON line: ``{"img_s", "batch", "by_batch", "threads"}``, or
``{"skipped": reason}`` when torch or the training package cannot be imported. The
network is the one ``training.export`` wraps (logits, CAM, OOD outputs), untrained
weights (the speed does not depend on them), eval mode, ``torch.inference_mode``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rate(module: object, x: object, seconds: float) -> float:
    import torch

    with torch.inference_mode():
        module(x)  # type: ignore[operator]  # warm-up
        n, t0 = 0, time.perf_counter()
        while n < 2 * x.shape[0] or time.perf_counter() - t0 < seconds:  # type: ignore[attr-defined]
            module(x)  # type: ignore[operator]
            n += x.shape[0]  # type: ignore[attr-defined]
        return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="efficientnet_b0")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--batches", default="8,16,32")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    try:
        import torch

        from training.export import ExportWrapper
        from training.models import create_model
    except Exception as exc:  # noqa: BLE001 - any import failure means "not measurable here"
        print(
            json.dumps({"skipped": f"torch/training not importable ({type(exc).__name__}: {exc})"})
        )
        return 0
    torch.manual_seed(0)
    wrapper = ExportWrapper(create_model(args.arch)).eval()
    rates = {}
    for b in (int(v) for v in args.batches.split(",")):
        x = torch.rand(b, 3, args.size, args.size) * 2 - 1
        rates[b] = rate(wrapper, x, args.seconds)
    best = max(rates, key=lambda k: rates[k])
    print(
        json.dumps(
            {
                "img_s": rates[best],
                "batch": best,
                "by_batch": {str(k): round(v, 1) for k, v in rates.items()},
                "threads": torch.get_num_threads(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
