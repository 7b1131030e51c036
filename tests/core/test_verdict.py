"""The case verdict rule on synthetic slice results, and the case reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.case_export import CASE_COLUMNS, write_cases_csv, write_cases_json
from desktop.core.cases import CaseKind, CasePlan, plan_cases
from desktop.core.export import RESEARCH_NOTICE, Provenance, read_csv
from desktop.core.model_spec import CLASS_NAMES, CaseRule, ModelContractError, ModelSpec
from desktop.core.results import SliceResult, Status
from desktop.core.verdict import Verdict, case_reports, case_verdict

RULE = CaseRule(slice_threshold=0.8, min_run=3, doubt_threshold=0.5, min_classified_fraction=0.5)
NO = (0.02, 0.02, 0.94, 0.02)  # glioma, meningioma, no_tumor, pituitary
GLIOMA = (0.85, 0.05, 0.05, 0.05)
MENINGIOMA = (0.10, 0.80, 0.05, 0.05)
MIXED = (0.45, 0.45, 0.05, 0.05)  # clearly a tumour, but which one is uncertain


def row(index: int, probs: tuple[float, ...] | None, status: Status = Status.OK) -> SliceResult:
    return SliceResult("/v.nii", index, status, probabilities=probs, slice_index=index)


def volume(calls: list[tuple[float, ...]]) -> list[SliceResult]:
    return [row(i, p) for i, p in enumerate(calls)]


def test_a_run_of_tumour_slices_is_suspected_with_its_range_and_class() -> None:
    calls = [NO] * 10 + [GLIOMA, GLIOMA, MENINGIOMA, GLIOMA] + [NO] * 5 + [GLIOMA] + [NO] * 3
    rows = volume(calls)[::-1]  # order of arrival does not matter: the index does
    v = case_verdict(rows, CLASS_NAMES, RULE)
    assert v.verdict is Verdict.TUMOUR_SUSPECTED
    assert (v.suspected_class, v.first_slice, v.last_slice) == ("glioma", 10, 13)
    assert v.tumour_slices == 5 and v.slices == 23  # the stray slice 19 counts, outside range


def test_scattered_tumour_slices_do_not_make_a_case() -> None:
    calls = [NO, GLIOMA, NO, GLIOMA, GLIOMA, NO, NO, MENINGIOMA, NO, NO]
    v = case_verdict(volume(calls), CLASS_NAMES, RULE)
    assert v.verdict is Verdict.NO_TUMOUR and v.tumour_slices == 4
    assert v.first_slice is None and v.suspected_class is None
    assert "no 3 adjacent" in v.reason


def test_uncertain_slices_with_high_tumour_probability_count() -> None:
    rows = volume([NO] * 6) + [row(6 + k, MIXED, Status.UNCERTAIN) for k in range(3)]
    v = case_verdict(rows, CLASS_NAMES, RULE)
    assert v.verdict is Verdict.TUMOUR_SUSPECTED and v.first_slice == 6


def test_an_unsupported_or_error_slice_breaks_a_run() -> None:
    rows = volume([NO, GLIOMA, GLIOMA, NO, GLIOMA, GLIOMA, NO])
    rows[3] = row(3, GLIOMA, Status.UNSUPPORTED)
    assert case_verdict(rows, CLASS_NAMES, RULE).verdict is Verdict.NO_TUMOUR
    rows[3] = row(3, GLIOMA)
    assert case_verdict(rows, CLASS_NAMES, RULE).verdict is Verdict.TUMOUR_SUSPECTED


def test_a_single_image_needs_one_tumour_slice() -> None:
    assert case_verdict([row(0, GLIOMA)], CLASS_NAMES, RULE).verdict is Verdict.TUMOUR_SUSPECTED
    assert case_verdict([row(0, NO)], CLASS_NAMES, RULE).verdict is Verdict.NO_TUMOUR
    v = case_verdict([row(0, (0.3, 0.2, 0.4, 0.1), Status.UNCERTAIN)], CLASS_NAMES, RULE)
    assert v.verdict is Verdict.UNCERTAIN


def test_errors_and_unclassifiable_cases() -> None:
    err = [row(0, None, Status.ERROR), row(1, None, Status.ERROR)]
    assert case_verdict(err, CLASS_NAMES, RULE).verdict is Verdict.ERROR
    odd = [row(0, NO, Status.UNSUPPORTED), row(1, None, Status.ERROR)]
    v = case_verdict(odd, CLASS_NAMES, RULE)
    assert v.verdict is Verdict.UNCERTAIN and v.reason == "no slice could be classified"
    assert case_verdict([], CLASS_NAMES, RULE).verdict is Verdict.ERROR


def test_mostly_unsupported_is_uncertain_not_cleared() -> None:
    rows = volume([NO] * 4) + [row(4 + k, NO, Status.UNSUPPORTED) for k in range(6)]
    v = case_verdict(rows, CLASS_NAMES, RULE)
    assert v.verdict is Verdict.UNCERTAIN and "only 4 of 10" in v.reason
    relaxed = CaseRule(slice_threshold=0.8, min_run=3, min_classified_fraction=0.4)
    assert case_verdict(rows, CLASS_NAMES, relaxed).verdict is Verdict.NO_TUMOUR


def test_class_confusion_alone_does_not_make_a_case_uncertain() -> None:
    confused = (0.05, 0.05, 0.55, 0.35)  # uncertain status, but P(tumour) only 0.45
    rows = [row(k, confused, Status.UNCERTAIN) for k in range(8)] + volume([NO] * 2)
    assert case_verdict(rows, CLASS_NAMES, RULE).verdict is Verdict.NO_TUMOUR


def test_a_near_miss_is_uncertain() -> None:
    leaning = (0.40, 0.15, 0.35, 0.10)  # P(tumour) 0.65: above doubt, below the threshold
    rows = volume([NO, NO, leaning, leaning, GLIOMA, NO])
    v = case_verdict(rows, CLASS_NAMES, RULE)
    assert v.verdict is Verdict.UNCERTAIN and "3 adjacent slice(s) lean" in v.reason
    never = CaseRule(slice_threshold=0.8, min_run=3, doubt_threshold=0.8)
    assert case_verdict(rows, CLASS_NAMES, never).verdict is Verdict.NO_TUMOUR


def test_the_rule_parameters_change_the_verdict() -> None:
    rows = volume([NO, GLIOMA, GLIOMA, NO])
    assert case_verdict(rows, CLASS_NAMES, RULE).verdict is Verdict.NO_TUMOUR
    two = CaseRule(slice_threshold=0.8, min_run=2)
    assert case_verdict(rows, CLASS_NAMES, two).verdict is Verdict.TUMOUR_SUSPECTED
    strict = CaseRule(slice_threshold=0.97, min_run=2)  # a near miss now
    assert case_verdict(rows, CLASS_NAMES, strict).verdict is Verdict.UNCERTAIN
    sure = CaseRule(slice_threshold=0.97, min_run=2, doubt_threshold=0.97)
    assert case_verdict(rows, CLASS_NAMES, sure).verdict is Verdict.NO_TUMOUR


def test_case_rule_travels_in_the_model_spec_and_old_specs_load() -> None:
    from desktop.core.model_spec import Preprocessing

    spec = ModelSpec(Preprocessing(input_size=64), case_rule=CaseRule(0.9, 4, 0.3))
    assert ModelSpec.from_json(spec.to_json()).case_rule == CaseRule(0.9, 4, 0.3)
    old = json.loads(spec.to_json())
    del old["case_rule"]  # a model file written before cases existed
    assert ModelSpec.from_json(json.dumps(old)).case_rule == CaseRule()
    old["case_rule"] = {"slice_threshold": 0.9, "min_run": 0}
    with pytest.raises(ModelContractError, match="case rule"):
        ModelSpec.from_json(json.dumps(old))


def prov() -> Provenance:
    return Provenance("9.9.9", "m.onnx", "ab" * 32, {}, created="2026-01-02T03:04:05+00:00")


def test_case_reports_and_exports(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    plan = plan_cases([folder / "a.png", folder / "b.png"])
    results = [
        SliceResult(str(folder / "a.png"), 0, Status.OK, probabilities=GLIOMA, case="a.png"),
        SliceResult(str(folder / "b.png"), 0, Status.ERROR, "truncated PNG", case="b.png"),
        SliceResult("/elsewhere/c.png", 0, Status.OK, probabilities=NO),  # not planned
    ]
    reports = case_reports(plan, results, CLASS_NAMES, RULE)
    assert [(r.case.id, r.verdict.verdict) for r in reports] == [
        ("a.png", Verdict.TUMOUR_SUSPECTED),
        ("b.png", Verdict.ERROR),
        ("/elsewhere/c.png", Verdict.NO_TUMOUR),
    ]
    write_cases_csv(reports, tmp_path / "cases.csv", prov(), RULE)
    rows = read_csv(tmp_path / "cases.csv")
    assert list(rows[0])[: len(CASE_COLUMNS)] == CASE_COLUMNS
    assert rows[0]["path"] == str((folder / "a.png").resolve()) and rows[0]["kind"] == "image"
    assert (rows[0]["first_slice"], rows[0]["last_slice"], rows[0]["tumour_slices"]) == (
        "0",
        "0",
        "1",
    )
    assert (
        rows[1]["verdict"] == "error" and rows[1]["error"] == "1" and rows[1]["first_slice"] == ""
    )
    assert all(r["notice"] == RESEARCH_NOTICE and r["model_sha256"] == "ab" * 32 for r in rows)
    assert "min_run=3" in rows[0]["case_rule"]
    write_cases_json(reports, tmp_path / "cases.json", prov(), RULE)
    doc = json.loads((tmp_path / "cases.json").read_text(), parse_constant=pytest.fail)
    assert doc["notice"] == RESEARCH_NOTICE and doc["case_rule"]["min_run"] == 3
    assert doc["cases"][0]["suspected_class"] == "glioma" and doc["cases"][0]["kind"] == "image"
    assert doc["cases"][1]["counts"]["error"] == 1
    with pytest.raises(FileExistsError):
        write_cases_csv(reports, tmp_path / "cases.csv", prov(), RULE)


def test_empty_plan_reports_nothing() -> None:
    assert case_reports(CasePlan(), [], CLASS_NAMES, RULE) == []
    assert CaseKind("nifti_volume") is CaseKind.NIFTI_VOLUME
