"""MODEL_CARD.md from evaluation reports (``report.json`` of each run).

The first report is the bundled model; the others (baseline CNN, MobileNetV2 transfer,
...) fill the comparison table. Everything here reads JSON, so the card can be rebuilt
without re-running any network. Firm calls, coverage and the probes' statuses in the
reports come from the app's own rule (:func:`desktop.core.decide.decide`).
"""

from __future__ import annotations

import math
from typing import Any

from desktop.core.model_spec import CLASS_NAMES
from training.metrics import own_classes_macro_f1
from training.reproduce import committed_manifest_sha256, train_commands

TARGETS = {  # issue 14: targets on the (honest) test split
    "accuracy": (">=", 0.97),
    "macro_f1": (">=", 0.97),
    "tumour_called_no_tumor": ("<=", 0.01),
}


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


def _firm_line(t: dict[str, Any]) -> str:
    """The card's bullet on firm calls (what the app shows as ``ok``), if evaluated."""
    f = t.get("firm")
    if not f or not f.get("metrics"):
        return "- Firm calls: not evaluated."
    m = f["metrics"]
    return (
        f"- **Firm calls** (shown `ok` by the app's own rule, `desktop.core.decide`: not blank,\n"
        f"  not a colour picture, OOD score at or below its threshold, calibrated confidence at\n"
        f"  or above it): {f['n']} of {t['n']} test slices ({f['coverage']:.1%}).\n"
        f"  Their accuracy {fmt(m['accuracy'])} (n={m['accuracy']['n']}); tumour called\n"
        f"  no_tumor among them {fmt(m['tumour_called_no_tumor'], True)}. **Silent misses**\n"
        f"  (a tumour slice given a firm `no_tumor`): {f['silent_misses']} of {f['n_tumour']}\n"
        f"  tumour slices ({f['silent_miss_rate']:.1%}); every other miss is shown\n"
        f"  `uncertain` or `unsupported`."
    )


def _sequences(report: dict[str, Any]) -> str:
    """Tumour slices detected / tumour-free slices called no_tumor, by source and sequence."""
    table = report.get("by_source_sequence")
    if not table:
        return "Not evaluated."
    lines = [
        "| source / sequence | slices (patients) | tumour slices detected [95% CI] | firm "
        "coverage, firm errors | tumour-free called no_tumor [95% CI] | firm coverage, "
        "firm errors | glioma recall |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(d: dict[str, Any] | None) -> tuple[str, str]:
        if not d:
            return "-", "-"
        lo, hi = d["ci95"]
        return (
            f"{d['rate']:.3f} [{lo:.3f}, {hi:.3f}] (n={d['n']})",
            f"{d['firm_coverage']:.0%}, {d['firm_wrong']}",
        )

    for key, row in table.items():
        t, tf = cell(row.get("tumour")), cell(row.get("no_tumor"))
        pts = f" ({row['patients']})" if row.get("patients") else ""
        gr = row.get("glioma_recall")
        lines.append(
            f"| {key} | {row['n']}{pts} | {t[0]} | {t[1]} | {tf[0]} | {tf[1]} "
            f"| {'-' if gr is None else f'{gr:.3f}'} |"
        )
    return "\n".join(lines) + (
        "\n\nDetected = the top class is a tumour, whatever the status; firm = shown `ok`."
        " Wilson intervals over slices: slices of one patient are not independent, so with"
        " 3 BraTS test patients these intervals are narrower than the truth."
    )


def _cases(report: dict[str, Any]) -> str:
    """The case rule and its case-level figures on the test cases."""
    c = report.get("cases")
    if not c:
        return "Not evaluated (no volume source in the manifest)."
    t, fit, rule = c["test"], c["fit"], c["rule"]
    sens_lo, sens_hi = t["sensitivity_wilson"]
    spec_lo, spec_hi = t["specificity_wilson"]
    groups = "\n".join(
        f"| {k} | {v['cases']} | {v['tumour_cases']} | "
        + ", ".join(f"{n} {w}" for w, n in v["verdicts"].items())
        + " |"
        for k, v in c["test_by_source_sequence"].items()
    )
    return f"""{c["definition"]}.

Rule (in the model's metadata, `case_rule`): a classified slice with P(tumour) >=
{rule["slice_threshold"]} is a tumour slice; {rule["min_run"]} neighbouring tumour slices
make the case `tumour_suspected`; {rule["min_run"]} neighbours at >= {rule["doubt_threshold"]}
without that make it `uncertain`; fewer than {rule["min_classified_fraction"]:.0%} of its
slices classified make it `uncertain`. Fitted on {fit["validation_cases"]} validation cases:
highest sensitivity with specificity >= {fit["specificity_floor"]:.0%} (floor met:
{"yes" if fit["floor_met"] else "no"}; validation sensitivity
{fit["validation_sensitivity"]:.3f}, specificity {fit["validation_specificity"]:.3f}).

Test cases: **tumour cases flagged {t["sensitivity"]:.3f}** ({t["tumour_cases"]} cases,
Wilson 95% [{sens_lo:.3f}, {sens_hi:.3f}]; referred, flagged or uncertain,
{t["referral"]:.3f}); **tumour-free cases cleared {t["specificity"]:.3f}**
({t["tumour_free_cases"]} cases, [{spec_lo:.3f}, {spec_hi:.3f}]). Goal: >= 0.95 and >= 0.90.

| source / sequence | cases | tumour cases | verdicts |
|---|---|---|---|
{groups}"""


def _pretrained(mdl: dict[str, Any]) -> str:
    p = mdl.get("pretrained")
    if not p:
        return "none recorded"
    return f"`{p['package']}` {p['version']} (`{p['file']}`, sha256 `{p['sha256'][:16]}...`)"


def _leakage(audit: dict[str, Any] | None) -> str:
    """The card's paragraph on near-duplicate pairs that cross the split boundary."""
    if audit and "protocol" in audit:
        return _honest_split(audit)
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


def _honest_split(audit: dict[str, Any]) -> str:
    """The card's paragraph on the honest split (:mod:`training.yardstick`)."""
    p = audit["protocol"]
    margin = audit.get("heldout_max_similarity_to_train") or {}
    patients = audit.get("patients_split_source") or {}
    by_split: dict[str, int] = {}
    for key, n in patients.items():
        by_split[key.split("/")[0]] = by_split.get(key.split("/")[0], 0) + int(n)
    return (
        f"**Split** (`{audit['file']}`, the protocol of the held-back sets): loose slices as"
        f" {p['thumbnail']} thumbnails, similarity = {p['similarity']}; clusters at"
        f" >= {p['cluster_threshold']}; {p['holdout_fraction_per_label']:.0%} of the"
        f" single-label clusters of each label to test and as many to validation (seeded);"
        f" then {audit.get('dropped_from_train_near_heldout')} training slices with"
        f" similarity >= {p['drop_from_train_threshold']} to a held-out slice were dropped."
        f" Largest similarity of a held-out slice to any training slice:"
        f" {margin.get('max')} (median {margin.get('median')}). Volume sources:"
        f" {p['volume_sources']}; patients: "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_split.items()))
        + f". Clusters with conflicting labels: {audit.get('conflicting_clusters')}, all in"
        " train."
    )


def _sartaj_testing(st: dict[str, Any]) -> str:
    if not st.get("n"):
        return "The manifest has no Sartaj `Testing` images."
    return (
        f"{st['why_not_honest']}\n"
        f"On it: accuracy {fmt(st['metrics']['accuracy'])}, macro-F1 "
        f"{fmt(st['metrics']['macro_f1'])}\n(n={st['n']}); compare with the held-out split above."
    )


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
        f"| {n} | {v['ood_score']:.2f} | {'yes' if v['unsupported'] else '**no**'}"
        f"{' (' + v['message'] + ')' if v.get('message') else ''} | "
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

Loose-slice sources: Sartaj (Training + Testing folders), figshare (T1 contrast-enhanced),
Br35H (no tumour, and tumours of unrecorded type used only as "not no_tumor" with a
partial-label loss; many T2/FLAIR). Volume sources, split by patient: BraTS 2018 (glioma
patients, skull-stripped, FLAIR/T1/T1c/T2; tumour slices and tumour-free slices >= 8
slices from the tumour), OpenNeuro ds002748 (skull-stripped T1, no tumour), IXI (T1 with
skull, no tumour). Images per split: `{data.get("images_by_split", "n/a")}`; patients:
`{data.get("patients_by_split_source", "n/a")}`. ImageNet initialisation:
{_pretrained(mdl)}.

{_leakage(report.get("leakage_audit"))}

## Results on the held-out test split

{t["n"]} images ({t["n_labelled"]} with a tumour type or no tumour, {t["n_partial_tumor"]}
tumours of unknown type), run through the exported ONNX file with the app's own
preprocessing. Intervals: 95% bootstrap, duplicate clusters resampled (1000 draws).

| metric | value [95% CI] | n |
|---|---|---|
{metric_lines}

Targets (issue 14):

{_targets(report)}

![confusion](figures/confusion_test.png) ![reliability](figures/reliability_test.png)

### By source

| source | n | accuracy | macro-F1, own classes | tumour called no_tumor | no_tumor called tumour |
|---|---|---|---|---|---|
{sources}

The sources do not have every class (figshare has no tumour-free slices; Br35H's only
labelled type is no tumour): macro-F1 here averages the classes the source has, as a
point value from its confusion matrix (no interval), and is not given for one class.

### By source and MR sequence

{_sequences(report)}

![confusion by source](figures/confusion_by_source.png)
![reliability by source](figures/reliability_by_source.png)

## Calibration, "uncertain" and "unsupported"

- Temperature fitted on validation: {num(cal, "temperature")}; validation ECE (15 bins)
  {num(cal, "val_ece_before")} before, {num(cal, "val_ece_after")} after.
  Test ECE {num(t, "ece_uncalibrated")} before, {num(t, "ece_calibrated")} after.
- Uncertain threshold {th["uncertain"]:.3f}: {cal.get("uncertain_rule", "")}.
  Validation coverage {num(v_unc, "coverage")}, error of accepted calls
  {num(v_unc, "error_rate", ".4f")}. Test coverage (labelled slices the app shows `ok`)
  {num(unc, "coverage")}, error of accepted calls
  {num(unc, "error_rate_accepted", ".4f")} (all calls: {num(unc, "error_rate_all", ".4f")}).
{_firm_line(t)}
- OOD score: squared Mahalanobis distances (shared, Ledoit-Wolf-shrunk covariance from
  training features, nearest class mean) of the pooled penultimate features and of the
  channel means/standard deviations of two intermediate stages and of the input's coarse
  8 x 8 layout (a brain slice is a bright oval on black); each divided by its
  validation 99.5th percentile, the maximum taken; threshold {th["ood_score"]:.2f}
  ({cal.get("ood_rule", "")}). Test slices flagged unsupported: {t["ood_flagged_rate"]:.3%}.

| probe | OOD score | unsupported (the app's status) | would have been called |
|---|---|---|---|
{probes}

## Cases (a volume or series as one unit)

{_cases(report)}

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
{train_commands(mdl, committed_manifest_sha256())}
python -m training release --checkpoint CKPT --out models/
```
"""
