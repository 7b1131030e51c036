"""Figures and the model card, from evaluation reports (``report.json`` of each run).

The first report is the bundled model; the others (baseline CNN, MobileNetV2 transfer,
...) fill the comparison table. Everything here reads JSON, so the card can be rebuilt
without re-running any network.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from desktop.core.model_spec import CLASS_NAMES  # noqa: E402

ROW_NAMES = (*CLASS_NAMES, "tumor (type unknown)")
#: the split manifest as committed, written so in the card's commands
COMMITTED_MANIFEST = "training/splits/manifest.csv"


def committed_manifest_sha256() -> str | None:
    from training.inputs import DEFAULT_MANIFEST, file_sha256

    return file_sha256(DEFAULT_MANIFEST) if DEFAULT_MANIFEST.is_file() else None


TARGETS = {  # issue 3: EfficientNet-B0 targets on the held-out test split
    "accuracy": (">=", 0.97),
    "macro_f1": (">=", 0.97),
    "tumour_called_no_tumor": ("<=", 0.01),
}


def _matrix(block: dict[str, Any]) -> np.ndarray:
    return np.vstack([np.asarray(block["confusion"]), np.asarray(block["partial_tumor_predicted"])])


def _plot_confusion(ax: Any, block: dict[str, Any], title: str) -> None:
    m = _matrix(block)
    rows = m.sum(axis=1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros(m.shape, float), where=rows > 0)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(m):
        ax.text(
            j,
            i,
            str(int(v)),
            ha="center",
            va="center",
            color="white" if frac[i, j] > 0.6 else "black",
            fontsize=8,
        )
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(ROW_NAMES)), ROW_NAMES, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = block["metrics"]["accuracy"]["value"]
    ax.set_title(f"{title} (n={block['n']}, acc {acc:.3f})", fontsize=9)


def _plot_reliability(ax: Any, block: dict[str, Any], title: str) -> None:
    bins = block.get("reliability") or []
    ok = [b for b in bins if b["count"] > 0]
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    if ok:
        centres = [(b["lo"] + b["hi"]) / 2 for b in ok]
        ax.bar(
            centres,
            [b["accuracy"] for b in ok],
            width=1 / len(bins),
            alpha=0.6,
            edgecolor="black",
            label="accuracy",
        )
        ax.plot(
            [b["confidence"] for b in ok],
            [b["accuracy"] for b in ok],
            "o-",
            ms=3,
            color="C3",
            label="mean confidence",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("calibrated confidence")
    ax.set_ylabel("accuracy")
    ece = block.get("ece_calibrated", float("nan"))
    ax.set_title(f"{title} (ECE {ece:.3f}, n={block.get('n_labelled', 0)})", fontsize=9)


def _grid(blocks: dict[str, dict[str, Any]], plot: Any, path: Path) -> Path:
    n = len(blocks)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    for ax, (title, block) in zip(axes.ravel(), blocks.items(), strict=False):
        plot(ax, block, title)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.subplots_adjust(left=0.16, right=0.97, bottom=0.14, top=0.93, wspace=0.55, hspace=0.5)
    fig.savefig(path, dpi=100)  # fixed margins: tight_layout costs more than the drawing
    plt.close(fig)
    return path


def write_figures(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Confusion matrices and reliability diagrams, overall and by source (PNG)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labelled = {"test (all sources)": report["test"]}
    labelled.update({f"test: {s}": b for s, b in report["by_source"].items()})
    with_rel = {k: v for k, v in labelled.items() if v.get("reliability")}
    paths = [
        _grid(
            {"test (all sources)": report["test"]}, _plot_confusion, out_dir / "confusion_test.png"
        ),
        _grid(labelled, _plot_confusion, out_dir / "confusion_by_source.png"),
        _grid(
            {"test (all sources)": report["test"]},
            _plot_reliability,
            out_dir / "reliability_test.png",
        ),
        _grid(with_rel, _plot_reliability, out_dir / "reliability_by_source.png"),
        _grid(
            {"Sartaj Testing folder": report["sartaj_testing"]},
            _plot_confusion,
            out_dir / "confusion_sartaj_testing.png",
        ),
    ]
    return paths


def num(d: dict[str, Any], key: str, spec: str = ".3f") -> str:
    """d[key] formatted, or n/a."""
    v = d.get(key)
    return "n/a" if v is None else format(float(v), spec)


def fmt(m: dict[str, Any] | None, pct: bool = False) -> str:
    """'0.973 [0.961, 0.982]' (or percentages) for a metric block."""
    if (
        not m
        or m.get("value") is None
        or (isinstance(m["value"], float) and math.isnan(m["value"]))
    ):
        return "n/a"
    s = 100.0 if pct else 1.0
    lo, hi = m["ci95"]
    unit = "%" if pct else ""
    d = 1 if pct else 3
    return f"{m['value'] * s:.{d}f}{unit} [{lo * s:.{d}f}, {hi * s:.{d}f}]"


METRIC_ROWS = (
    ("accuracy", "accuracy (4 labelled classes)", False),
    ("macro_f1", "macro-F1 (4 labelled classes)", False),
    *((f"precision_{c}", f"precision {c}", False) for c in CLASS_NAMES),
    *((f"recall_{c}", f"recall {c}", False) for c in CLASS_NAMES),
    ("tumour_called_no_tumor", "tumour called no_tumor (incl. type-unknown tumours)", True),
    ("no_tumor_called_tumour", "no_tumor called a tumour", True),
    (
        "partial_tumour_vs_no_tumour_accuracy",
        "type-unknown tumours: tumour-vs-no-tumour acc.",
        False,
    ),
)

LIMITATIONS = """\
- **Not for diagnosis.** A research tool to sort and review slices; every call needs a
  qualified reader. Nothing here has been validated clinically or prospectively.
- **Narrow training data.** Public Kaggle-style JPEG slices (Sartaj, figshare, Br35H),
  8-bit, already windowed, mostly single slices at tumour level. The model will meet
  whole-head clinical DICOM (T1, T1 with contrast, T2, FLAIR, every slice level from skull
  base to vertex), skull-stripped research volumes (NIfTI, BraTS-style, zero background)
  and exported slices of any size. Those are outside what it was trained and tested on;
  expect lower accuracy there, most of all at slice levels without tumour-typical
  anatomy and in sequences under-represented per class.
- **Sequence shortcut.** figshare tumour slices are all T1 contrast-enhanced while many
  Br35H tumour-free slices are T2/FLAIR: class and sequence are entangled in the data.
  The per-source breakdown above is the check; a real tumour on a T2/FLAIR slice from
  another hospital may still be called `no_tumor` more often than the test split shows.
- **Split by image similarity, not by patient.** This copy has no patient ids; the split
  keeps near-duplicate clusters together, but different slices of one patient can still
  fall on both sides, so test numbers may be optimistic.
- **Three tumour types only.** Any other lesion (metastasis, lymphoma, stroke, ...) will be
  called one of the four classes or `uncertain`; `no_tumor` means "none of the three".
- **Calibration and thresholds** were fitted on the validation split of the same sources;
  on other data the confidence is less reliable and the OOD score can miss unusual but
  brain-like inputs (it is a distance in feature space, not a guarantee).
"""


def train_command(args: dict[str, Any] | None) -> str:
    """``python -m training train`` with the arguments of a run that differ from the defaults.

    Paths to machine-local files (cache, output, checkpoints, teacher logits) are kept as
    they were: they say what was used, and are placeholders on another machine.
    """
    if not args:
        return "python -m training train ...        # (arguments not recorded)"
    from training.train import get_args_parser

    parts = ["python -m training train"]
    for action in get_args_parser()._actions:
        k = action.dest
        if k not in args or k == "help":
            continue
        v, flag = args[k], action.option_strings[0] if action.option_strings else ""
        if isinstance(action, argparse.BooleanOptionalAction):
            if v != action.default:
                parts.append(flag if v else f"--no-{flag[2:]}")
        elif action.nargs == 0:  # store_true
            if v:
                parts.append(flag)
        elif v is not None and str(v) != str(action.default):
            parts.append(f"{flag} {v}")
    return " ".join(parts)


def _train_commands(mdl: dict[str, Any], manifest_sha256: str | None = None) -> str:
    """One training command per stage, oldest first (a model trained in several runs),
    each distillation teacher's own commands before the first stage that used it.

    A manifest whose sha256 is the committed one's is written as its path in the
    repository (it was a copy of it on the training machine).
    """
    final = {k: mdl.get(k) for k in ("teacher", "manifest_sha256")}
    stages = [
        *reversed(mdl.get("earlier_stages") or []),
        {"args": mdl.get("training_args"), **final},
    ]
    lines: list[str] = []
    teachers_done: set[str] = set()

    def portable(st: dict[str, Any]) -> dict[str, Any] | None:
        args = st.get("args")
        if args and manifest_sha256 and st.get("manifest_sha256") == manifest_sha256:
            return {**args, "manifest": COMMITTED_MANIFEST}
        return args

    for i, st in enumerate(stages, 1):
        t = st.get("teacher") or {}
        if t and t.get("logits") not in teachers_done:
            teachers_done.add(t.get("logits"))
            members = t.get("members") or []
            kind = "an ensemble, mean of logits" if len(members) > 1 else "one network"
            lines.append(f"# distillation teacher ({kind}): {t['logits']}")
            for m in members:
                lines.append(train_command(portable(m)))
            if members:
                ckpts = " ".join(m["checkpoint"] for m in members)
                lines.append(
                    f"python -m training predict-logits --checkpoint {ckpts} --out {t['logits']}"
                )
            else:
                lines.append("# (the teacher's run was not on this machine at release)")
        head = f"# stage {i} of {len(stages)}\n" if len(stages) > 1 else ""
        lines.append(head + train_command(portable(st)))
    return "\n".join(lines)


def _firm_line(t: dict[str, Any]) -> str:
    """The card's bullet on firm calls (what the app shows as ``ok``), if evaluated."""
    f = t.get("firm")
    if not f or not f.get("metrics"):
        return "- Firm calls: not evaluated."
    m = f["metrics"]
    return (
        f"- **Firm calls** (shown `ok`: calibrated confidence at or above the threshold and OOD\n"
        f"  score at or below it): {f['n']} of {t['n']} test slices ({f['coverage']:.1%}).\n"
        f"  Their accuracy {fmt(m['accuracy'])} (n={m['accuracy']['n']}); tumour called\n"
        f"  no_tumor among them {fmt(m['tumour_called_no_tumor'], True)}. **Silent misses**\n"
        f"  (a tumour slice given a firm `no_tumor`): {f['silent_misses']} of {f['n_tumour']}\n"
        f"  tumour slices ({f['silent_miss_rate']:.1%}); every other miss is shown\n"
        f"  `uncertain` or `unsupported`."
    )


def _leakage(audit: dict[str, Any] | None) -> str:
    """The card's paragraph on near-duplicate pairs that cross the split boundary."""
    if not audit or not audit.get("by_threshold"):
        return "Leakage audit: not available (no `audit.json` beside the manifest)."
    lines = [
        f"**Leakage audit** (`{audit['file']}`; image pairs by fingerprint similarity, the "
        f"clusters are cut at {audit['threshold']}):",
        "",
        "| similarity at least | near-duplicate pairs | crossing the split | test-train "
        "| test images with a crossing pair (same label) |",
        "|---|---|---|---|---|",
    ]
    for b in audit["by_threshold"]:
        lines.append(
            f"| {b['threshold']} | {b['pairs']} | {b['crossing_pairs']} "
            f"| {b.get('crossing_by_splits', {}).get('test-train', 0)} "
            f"| {b['test_images_with_a_crossing_pair']} "
            f"({b.get('test_images_with_a_crossing_pair_of_agreeing_labels', 'n/a')}) |"
        )
    lines += [
        "",
        "No pair at the clustering threshold crosses the split. Below it, copies and"
        " adjacent slices are mixed with look-alikes of other patients: such pairs were"
        " joined only when the join kept one label and stayed under the cluster-size cap,"
        " and the rows above count the ones left crossing (the residual risk; pairs with"
        " different labels are not copies of one slice). Clusters with conflicting labels:"
        f" {audit['conflicting_clusters']} ({audit['conflicting_images']} images;"
        f" {audit['conflict_policy']}).",
    ]
    return "\n".join(lines)


def _sartaj_testing(st: dict[str, Any]) -> str:
    if not st.get("n"):
        return "The manifest has no Sartaj `Testing` images."
    return (
        f"{st['why_not_honest']}\n"
        f"On it: accuracy {fmt(st['metrics']['accuracy'])}, macro-F1 "
        f"{fmt(st['metrics']['macro_f1'])}\n(n={st['n']}); compare with the held-out split above."
    )


def own_classes_macro_f1(confusion: list[list[int]]) -> tuple[float, int]:
    """Macro-F1 over the classes that occur as labels (rows: true, columns: predicted),
    and how many there are; NaN below two classes."""
    cm = np.asarray(confusion, dtype=float)
    k = min(cm.shape)
    present = [i for i in range(k) if cm[i].sum() > 0]
    if len(present) < 2:
        return float("nan"), len(present)
    f1 = [2 * cm[i, i] / (cm[i].sum() + cm[:, i].sum()) for i in present]
    return float(np.mean(f1)), len(present)


def _block_row(name: str, b: dict[str, Any]) -> str:
    m = b["metrics"]
    f1, n_classes = own_classes_macro_f1(b.get("confusion") or [[0]])
    own = f"{f1:.3f} ({n_classes} classes)" if n_classes >= 2 else "n/a (one class)"
    return (
        f"| {name} | {b['n']} | {fmt(m['accuracy'])} | {own} | "
        f"{fmt(m['tumour_called_no_tumor'], True)} | {fmt(m['no_tumor_called_tumour'], True)} |"
    )


def comparison_table(runs: list[dict[str, Any]]) -> str:
    head = (
        "| run | architecture | input | accuracy | macro-F1 | tumour called no_tumor | "
        "ECE (calibrated) | probes unsupported |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in runs:
        t = r["test"]
        m = t["metrics"]
        probes = r.get("ood_probes", {})
        n_unsup = sum(v["unsupported"] for v in probes.values())
        lines.append(
            f"| {r.get('name', '?')} | {r['model']['architecture']} | {r['model']['input_size']} "
            f"| {fmt(m['accuracy'])} | {fmt(m['macro_f1'])} "
            f"| {fmt(m['tumour_called_no_tumor'], True)} | {num(t, 'ece_calibrated')} "
            f"| {n_unsup}/{len(probes)} |"
        )
    return "\n".join(lines)


def _targets(report: dict[str, Any]) -> str:
    m = report["test"]["metrics"]
    lines = ["| target | goal | reached | met |", "|---|---|---|---|"]
    for k, (op, goal) in TARGETS.items():
        v = m[k]["value"]
        ok = v >= goal if op == ">=" else v <= goal
        pct = k == "tumour_called_no_tumor"
        shown = f"{goal:.0%}" if pct else f"{goal:g}"
        lines.append(f"| {k} | {op} {shown} | {fmt(m[k], pct)} | {'yes' if ok else 'no'} |")
    ece = report["test"].get("ece_calibrated", float("nan"))
    lines.append(
        f"| ECE after calibration | <= 0.03 | {ece:.3f} | {'yes' if ece <= 0.03 else 'no'} |"
    )
    nat = {k: v for k, v in report["ood_probes"].items() if k.startswith("natural_")}
    ok = bool(nat) and all(v["unsupported"] for v in nat.values())
    lines.append(
        f"| natural images unsupported | all | "
        f"{sum(v['unsupported'] for v in nat.values())}/{len(nat)} | {'yes' if ok else 'no'} |"
    )
    return "\n".join(lines)


def model_card(report: dict[str, Any], runs: list[dict[str, Any]] | None = None) -> str:
    """MODEL_CARD.md text for ``report`` (the bundled model) and the compared ``runs``."""
    mdl, t, st = report["model"], report["test"], report["sartaj_testing"]
    cal = mdl.get("validation_calibration") or {}
    th = mdl["thresholds"]
    data = mdl.get("training_data") or {}
    unc = t.get("uncertain", {})
    metric_lines = "\n".join(
        f"| {label} | {fmt(t['metrics'][k], pct)} | {t['metrics'][k]['n']} |"
        for k, label, pct in METRIC_ROWS
    )
    sources = "\n".join(_block_row(s, b) for s, b in report["by_source"].items())
    probes = "\n".join(
        f"| {n} | {v['ood_score']:.2f} | {'yes' if v['unsupported'] else '**no**'} | "
        f"{v['would_call']} ({v['confidence']:.2f}) |"
        for n, v in report["ood_probes"].items()
    )
    v_unc = cal.get("uncertain", {})
    size = mdl["input_size"]
    return f"""# Model card: `{mdl["file"]}`

> **Research use only. Not a medical device and not for diagnosis.**

| | |
|---|---|
| file | `{mdl["file"]}` (sha256 `{mdl["sha256"]}`) |
| architecture | {mdl["architecture"]}, input {size} x {size}, grey replicated to 3 channels |
| code version | `{mdl.get("code_version")}` |
| split manifest | `{report["manifest"]["file"]}` (sha256 `{report["manifest"]["sha256"]}`) |
| temperature | {mdl["temperature"]:.3f} |
| uncertain below | calibrated top probability {th["uncertain"]:.3f} |
| unsupported above | OOD score {th["ood_score"]:.2f} (or image std below {th["blank_std"]:g}) |

## Intended use

Sorting and second-look review of 2-D brain MRI slices into glioma, meningioma,
pituitary tumour or no tumour, in research settings, with a person reading every image.
Not for diagnosis, triage or treatment decisions. Calls below the confidence threshold are
shown as `uncertain`; inputs unlike the training data as `unsupported`.

## Data and split

Sources: Sartaj (Training + Testing folders), figshare (T1 contrast-enhanced), Br35H
(no tumour, and tumours of unrecorded type used only as "not no_tumor" with a
partial-label loss). Exact and near duplicates (re-encoded, resized, flipped, rotated)
were grouped into clusters and the split is by cluster, stratified by class; clusters with
conflicting labels are kept out of the test split. Images per split:
`{data.get("images_by_split", "n/a")}`.

{_leakage(report.get("leakage_audit"))}

## Results on the held-out test split

{t["n"]} images ({t["n_labelled"]} with a tumour type or no tumour, {t["n_partial_tumor"]}
tumours of unknown type), run through the exported ONNX file with the app's own
preprocessing. Intervals: 95% bootstrap, duplicate clusters resampled (1000 draws).

| metric | value [95% CI] | n |
|---|---|---|
{metric_lines}

Targets (issue 3):

{_targets(report)}

![confusion](figures/confusion_test.png) ![reliability](figures/reliability_test.png)

### By source

| source | n | accuracy | macro-F1, own classes | tumour called no_tumor | no_tumor called tumour |
|---|---|---|---|---|---|
{sources}

The sources do not have every class (figshare has no tumour-free slices; Br35H's only
labelled type is no tumour): macro-F1 here averages the classes the source has, as a
point value from its confusion matrix (no interval), and is not given for one class.

![confusion by source](figures/confusion_by_source.png)
![reliability by source](figures/reliability_by_source.png)

## Calibration, "uncertain" and "unsupported"

- Temperature fitted on validation: {num(cal, "temperature")}; validation ECE (15 bins)
  {num(cal, "val_ece_before")} before, {num(cal, "val_ece_after")} after.
  Test ECE {num(t, "ece_uncalibrated")} before, {num(t, "ece_calibrated")} after.
- Uncertain threshold {th["uncertain"]:.3f}: {cal.get("uncertain_rule", "")}.
  Validation coverage {num(v_unc, "coverage")}, error of accepted calls
  {num(v_unc, "error_rate", ".4f")}. Test coverage {num(unc, "coverage")}, error of
  accepted calls {num(unc, "error_rate_accepted", ".4f")} (all calls:
  {num(unc, "error_rate_all", ".4f")}).
{_firm_line(t)}
- OOD score: squared Mahalanobis distances (shared, Ledoit-Wolf-shrunk covariance from
  training features, nearest class mean) of the pooled penultimate features and of the
  channel means/standard deviations of two intermediate stages and of the input's coarse
  8 x 8 layout (a brain slice is a bright oval on black); each divided by its
  validation 99.5th percentile, the maximum taken; threshold {th["ood_score"]:.2f}
  ({cal.get("ood_rule", "")}). Test slices flagged unsupported: {t["ood_flagged_rate"]:.3%}.

| probe | OOD score | unsupported | would have been called |
|---|---|---|---|
{probes}

## The Sartaj `Testing` folder (not an honest test)

{_sartaj_testing(st)}

![Sartaj Testing](figures/confusion_sartaj_testing.png)

## Comparison of runs (same test split, same evaluation path)

{comparison_table(runs or [report])}

## Limitations

{LIMITATIONS}
## Reproduce

```
python -m training split            # manifest (committed)
{_train_commands(mdl, committed_manifest_sha256())}
python -m training release --checkpoint CKPT --out models/
```
"""
