"""``python -m desktop.bench``: the performance figures of issues 6 and 17, as a table and JSON.

    python -m desktop.bench [--images N] [--folder DIR] [--model PATH] [--json OUT]
                            [--only KEYS] [--gui-slices 3000] [--rss-slices 10000]

Without ``--folder`` the slices are phantom PNGs written to a temporary folder (decoding
is real). The folder figures of issue 17 (``decode_cpu_ms``, ``network_cpu_ms``,
``end_to_end_cpu_ms``, ``naive_img_s``, with ``end_to_end_img_s``) are measured together on
the same files; for those alone on a real folder:

    python -m desktop.bench --folder DIR --json OUT \
        --only decode_cpu_ms,network_cpu_ms,end_to_end_cpu_ms,end_to_end_img_s,naive_img_s

See docs/PERFORMANCE.md for what each figure means and the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from desktop.bench import FOLDER_FIGURES, KEYS
from desktop.bench.machine import load_average, machine_info

TARGETS = {
    "ort_ceiling_img_s": "",
    "end_to_end_img_s": ">= 3 x naive",
    "torch_eager_img_s": "",
    "first_row_s": "<= 1",
    "gui_max_stall_ms": "<= 50",
    "gui_volume_stall_ms": "<= 50",
    "peak_rss_mb": "<= 1536",
    "rss_growth_mb_per_1000": "flat",
    "startup_s": "<= 2",
    "decode_cpu_ms": "",
    "network_cpu_ms": "",
    "end_to_end_cpu_ms": "<= 1.10 x (decode + network)",
    "naive_img_s": "end to end >= 3 x this",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m desktop.bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--images", type=int, default=1000, help="slices for the headless rates (default 1000)"
    )
    p.add_argument("--folder", type=Path, help="take slices from this folder instead of phantoms")
    p.add_argument("--model", type=Path, help="ONNX model (default: the bundled model)")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    p.add_argument("--only", help=f"comma-separated keys to measure (of: {', '.join(KEYS)})")
    p.add_argument(
        "--gui-slices", type=int, default=3000, help="slices dropped on the window (3000)"
    )
    p.add_argument(
        "--rss-slices", type=int, default=10000, help="slices for the memory run (10000)"
    )
    p.add_argument("--seconds", type=float, default=2.0, help="minimum seconds per timed rate (2)")
    return p


def _progress(figures: dict[str, Any]) -> None:
    """Figures so far, on stderr (a long run killed half-way still shows them)."""
    done = ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items() if v is not None)
    print(f"[bench] {done}", file=sys.stderr, flush=True)


def _wanted(only: str | None) -> set[str]:
    if not only:
        return set(KEYS)
    keys = {k.strip() for k in only.split(",") if k.strip()}
    unknown = keys - set(KEYS)
    if unknown:
        raise SystemExit(
            f"unknown key(s): {', '.join(sorted(unknown))}; choose from {', '.join(KEYS)}"
        )
    return keys


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.3g}" if abs(v) < 10 else f"{v:,.1f}"


def print_table(res: dict[str, Any]) -> None:
    f, m = res["figures"], res["machine"]
    print(
        f"\nmachine: {m['cpu_model']}, {m['cores']} cores, "
        f"Python {m['python']}, onnxruntime {m['onnxruntime']}"
    )
    print(
        f"model: {res['model']}   N = {res['n']}   "
        f"load average at start: {m['load_average_at_start']}"
    )
    print(f"\n{'figure':<26}{'value':>12}   target")
    for k in KEYS:
        print(f"{k:<26}{_fmt(f.get(k)):>12}   {TARGETS[k]}")
    ceil, e2e, eager = (
        f.get("ort_ceiling_img_s"),
        f.get("end_to_end_img_s"),
        f.get("torch_eager_img_s"),
    )
    if ceil and e2e:
        print(f"\nend-to-end / ceiling = {e2e / ceil:.2f}")
    d = res["details"]
    c_cpu = d.get("ort_ceiling", {}).get("cpu_ms_per_img")
    e_cpu = d.get("end_to_end", {}).get("cpu_ms_per_img")
    if c_cpu and e_cpu:
        print(
            f"CPU ms per slice: network {c_cpu:.2f}, end to end {e_cpu:.2f} "
            f"(network share {c_cpu / e_cpu:.2f}: the 2-core bound on end-to-end / ceiling)"
        )
    if ceil and eager:
        print(f"ceiling / torch eager = {ceil / eager:.1f}x")
    folder = d.get("folder")
    if folder:
        print(f"model precision: {folder['model_precision']}")
        for kind, k in folder["kinds"].items():
            net = k["details"]["network"]
            where = f" (threads {net['threads']}, batch {net['batch']})" if net else ""
            print(
                f"{kind}: {k['files']} files, {k['slices']} slices; CPU ms per slice: decode "
                f"{_fmt(k['decode_cpu_ms'])}, network {_fmt(k['network_cpu_ms'])}{where}, "
                f"end to end {_fmt(k['end_to_end_cpu_ms'])}; {_fmt(k['end_to_end_img_s'])} "
                f"slices/s, naive {_fmt(k['naive_img_s'])}"
            )
            if k["overhead_ratio"]:
                print(
                    f"  end to end / (decode + network) CPU = {k['overhead_ratio']:.2f}"
                    "  (goal <= 1.10)"
                )
            if k["speedup_vs_naive"]:
                print(f"  end to end / naive = {k['speedup_vs_naive']:.2f}x  (goal >= 3x)")
    for note in res["notes"]:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    wanted = _wanted(args.only)
    from desktop.bench.folder import model_precision
    from desktop.core.resources import bundled_model_path

    model = args.model or bundled_model_path()
    if model is None or not Path(model).is_file():
        print(
            "no model: pass --model PATH (an untrained stand-in: "
            ".venv/bin/python scripts/export_untrained.py /tmp/bench_effnet_b0.onnx)",
            file=sys.stderr,
        )
        return 2
    model = Path(model).resolve()
    res: dict[str, Any] = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "model": model.name,
        "model_precision": model_precision(model),
        "n": args.images,
        "figures": {k: None for k in KEYS},
        "details": {},
        "notes": [],
    }
    f, details, notes = res["figures"], res["details"], res["notes"]
    gui_keys = {"first_row_s", "gui_max_stall_ms", "gui_volume_stall_ms", "startup_s"} & wanted
    with ExitStack() as stack:
        files = _inputs(args, stack, max(args.images, args.gui_slices if gui_keys else 0), notes)
        headless_files = files[: args.images]
        res["source"] = (
            str(args.folder) if args.folder else "phantom PNG 512x512 (temporary folder)"
        )
        folder_run = bool(set(FOLDER_FIGURES) & wanted)
        # a folder run measures end_to_end_img_s with its other figures (one run, same files)
        headless = wanted - ({"end_to_end_img_s"} if folder_run else set())
        if {"ort_ceiling_img_s", "end_to_end_img_s"} & headless:
            _headless(model, headless_files, headless, args.seconds, f, details)
            _progress(f)
        if folder_run:
            from desktop.bench.folder import folder_figures

            ff = folder_figures(model, headless_files, args.seconds)
            details["folder"] = ff
            for k in (*FOLDER_FIGURES, "end_to_end_img_s"):
                f[k] = ff.get(k)
            res["ratios"] = {
                "overhead_ratio": ff.get("overhead_ratio"),
                "speedup_vs_naive": ff.get("speedup_vs_naive"),
            }
            _progress(f)
        if "torch_eager_img_s" in wanted:
            from desktop.bench.torch_eager import torch_eager

            spec = _spec(model)
            t = torch_eager(spec.architecture, spec.preprocessing.input_size, args.seconds)
            details["torch_eager"] = t
            if "skipped" in t:
                notes.append(f"torch_eager_img_s skipped: {t['skipped']}")
            else:
                f["torch_eager_img_s"] = t["img_s"]
            _progress(f)
        if gui_keys:
            from desktop.bench.gui import gui_figures

            g = gui_figures(
                model, files[: args.gui_slices], volumes="gui_volume_stall_ms" in gui_keys
            )
            details["gui"] = g
            for k in gui_keys:
                f[k] = g.get(k)
            _progress(f)
            if g.get("gui_rows", 0) < 3000:
                notes.append(f"GUI run on {g.get('gui_rows')} slices (the target is for 3,000)")
        if {"peak_rss_mb", "rss_growth_mb_per_1000"} & wanted:
            from desktop.bench.gui import rss_figures

            r = rss_figures(model, headless_files, args.rss_slices)
            details["rss"] = r
            f["peak_rss_mb"], f["rss_growth_mb_per_1000"] = (
                r["peak_rss_mb"],
                r["rss_growth_mb_per_1000"],
            )
            if r["rows"] < 10000:
                notes.append(f"memory run on {r['rows']} slices (the target is for 10,000)")
    res["machine"]["load_average_at_end"] = load_average()
    print_table(res)
    if args.json:
        flat = {**f, **{k: v for k, v in res.items() if k != "figures"}}
        args.json.write_text(json.dumps(flat, indent=2, default=str), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


def _spec(model: Path) -> Any:
    from desktop.core.classifier import Classifier

    return Classifier.load(model).spec


def _inputs(args: argparse.Namespace, stack: ExitStack, n: int, notes: list[str]) -> list[Path]:
    from desktop.bench.slices import folder_files, phantom_folder

    if args.folder:
        files = folder_files(args.folder, n)
        if len(files) < n:
            notes.append(f"{args.folder} holds {len(files)} image files (< {n} asked)")
        return files
    _, files = stack.enter_context(phantom_folder(n))
    return files


def _headless(
    model: Path,
    files: list[Path],
    wanted: set[str],
    seconds: float,
    f: dict[str, Any],
    details: dict[str, Any],
) -> None:
    from desktop.bench.headless import ceiling_thread_counts, end_to_end, input_tensor, ort_ceiling
    from desktop.core.classifier import Classifier
    from desktop.core.pipeline import Pipeline

    clf = Classifier.load(model)
    if "ort_ceiling_img_s" in wanted:
        # the best session.run rate over batch sizes and over thread counts (the app's
        # own, and every core), so the ceiling never depends on the app's choice
        x = input_tensor(clf, files, 256)
        by_threads = {
            t: ort_ceiling(Classifier.load(model, threads=t), x, min_s=seconds)
            for t in ceiling_thread_counts()
        }
        best = max(by_threads, key=lambda t: by_threads[t]["img_s"])
        c = {**by_threads[best], "threads": best}
        c["by_threads"] = {str(t): round(r["img_s"], 1) for t, r in by_threads.items()}
        details["ort_ceiling"] = c
        f["ort_ceiling_img_s"] = c["img_s"]
    if "end_to_end_img_s" in wanted:
        e = end_to_end(Pipeline(clf), files)
        details["end_to_end"] = e
        f["end_to_end_img_s"] = e["img_s"]


if __name__ == "__main__":
    sys.exit(main())
