"""Export an UNTRAINED EfficientNet-B0 in the app's model contract (for benchmarks only).

    .venv/bin/python scripts/export_untrained.py /tmp/bench_effnet_b0.onnx [--size 112]

The network is the real architecture (``training.models.create_model``) wrapped the way
``training.export`` wraps a trained one (logits, CAM, OOD score), so the inference cost
is the real one; its classes mean nothing. Never write the result into ``models/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from desktop.core.model_spec import Preprocessing  # noqa: E402
from training.export import ExportWrapper, build_spec, export_onnx  # noqa: E402
from training.models import create_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--arch", default="efficientnet_b0")
    ap.add_argument("--size", type=int, default=112)
    args = ap.parse_args(argv)
    if "models" in args.out.resolve().parts[-2:-1]:
        ap.error("refusing to write an untrained model into models/")
    torch.manual_seed(0)
    model = create_model(args.arch).eval()
    spec = build_spec(
        Preprocessing(input_size=args.size),
        args.arch,
        provenance={"trained": False, "purpose": "benchmark stand-in (untrained)"},
    )
    export_onnx(ExportWrapper(model), spec, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
