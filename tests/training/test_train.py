"""Training loop on a tiny synthetic cache: loss values, augmentation, train/resume."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import geometric, normalise
from training.augment import augment, to_float
from training.augment import normalise as t_normalise
from training.cache import TUMOR_INDEX, load_cache
from training.train import (
    get_args_parser,
    get_logits_parser,
    main,
    metrics,
    partial_label_loss,
    predict_logits,
    to_memory_format,
)

LABELS = ["glioma", "meningioma", "no_tumor", "pituitary", "tumor"]


def _phantom(rng: np.random.Generator, label: int, size: int = 80) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    img = ((yy - size / 2) ** 2 / 0.35 + (xx - size / 2) ** 2 / 0.3 < (size / 2.4) ** 2) * 0.4
    if label != 2:
        cy, cx = rng.integers(size // 3, 2 * size // 3, 2)
        img = img + ((yy - cy) ** 2 + (xx - cx) ** 2 < (4 + 2 * (label % 4)) ** 2) * 0.5
    img = img + rng.normal(0, 0.03, img.shape)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    data = root / "data"
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        label = i % 5
        src = "br35h" if label in (2, 4) else "figshare"
        rel = f"{src}/{LABELS[label]}/{i}.png"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / rel), _phantom(rng, label))
        split = ["train", "train", "train", "val", "test"][(i // 5) % 5]
        rows.append(
            {
                "path": rel,
                "source": src,
                "subset": "",
                "label": LABELS[label],
                "cluster": str(i),
                "split": split,
                "sha256": "",
                "content_hash": "",
            }
        )
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return {"root": root, "data": data, "manifest": manifest, "cache": root / "cache"}


def test_partial_label_loss_matches_hand_computation() -> None:
    logits = torch.tensor([[1.0, 0.0, 2.0, -1.0], [1.0, 0.0, 2.0, -1.0]])
    e = [math.exp(v) for v in (1.0, 0.0, 2.0, -1.0)]
    z = sum(e)
    loss = partial_label_loss(logits, torch.tensor([0, TUMOR_INDEX]))
    assert loss[0].item() == pytest.approx(-math.log(e[0] / z), rel=1e-5)
    assert loss[1].item() == pytest.approx(-math.log(1 - e[2] / z), rel=1e-5)
    smooth = partial_label_loss(logits, torch.tensor([0, TUMOR_INDEX]), smoothing=0.1)
    uniform = -sum(math.log(v / z) for v in e) / 4
    assert smooth[0].item() == pytest.approx(0.9 * -math.log(e[0] / z) + 0.1 * uniform, rel=1e-5)
    assert smooth[1].item() == pytest.approx(loss[1].item(), rel=1e-6)


def _metrics_before_issue13(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """train.metrics as it was before it used training.metrics (the reference)."""
    no_tumor = 2
    pred = logits.argmax(1)
    spec = labels < TUMOR_INDEX
    p, y = pred[spec], labels[spec]
    f1s = []
    for c in range(4):
        tp = int(((p == c) & (y == c)).sum())
        fp, fn = int(((p == c) & (y != c)).sum()), int(((p != c) & (y == c)).sum())
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    tumour = labels != no_tumor
    return {
        "accuracy": float((p == y).float().mean()),
        "macro_f1": float(np.mean(f1s)),
        "tumour_as_no_tumor": float((pred[tumour] == no_tumor).float().mean()),
    }


def test_train_metrics_come_from_the_metrics_module_with_the_same_numbers() -> None:
    """Checkpoint selection's numbers: the partial label (4) counts only as a tumour."""
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, TUMOR_INDEX, TUMOR_INDEX, TUMOR_INDEX])
    pred = torch.tensor([0, 1, 0, 1, 2, 2, 2, 0, 3, 3, 2, 0, 1])
    logits = torch.nn.functional.one_hot(pred, 4).float() * 3.0 - 1.0
    got = metrics(logits, labels)
    # by hand over the 10 specific rows: F1 2/3, 1/2, 2/3, 1 (the partial rows called
    # glioma / meningioma are no false positives); 7 of 10 right; 2 of 10 tumours missed
    assert got["macro_f1"] == pytest.approx(17 / 24, abs=1e-12)
    assert got["accuracy"] == pytest.approx(0.7, abs=1e-12)
    assert got["tumour_as_no_tumor"] == pytest.approx(0.2, abs=1e-12)
    assert got["loss"] == pytest.approx(float(partial_label_loss(logits, labels).mean()))
    before = _metrics_before_issue13(logits, labels)
    assert got["macro_f1"] == before["macro_f1"]
    # the old rates were float32 means (0.7 -> 0.699999988); now exact in float64
    for key in ("accuracy", "tumour_as_no_tumor"):
        assert got[key] == pytest.approx(before[key], rel=1e-7), key
    # a class neither labelled nor predicted still scores 0 in the average (as before),
    # unlike the report's macro-F1 over the classes present
    keep = labels != 3
    got = metrics(logits[keep], labels[keep])
    assert got["macro_f1"] == pytest.approx(
        _metrics_before_issue13(logits[keep], labels[keep])["macro_f1"], abs=1e-12
    )
    assert got["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3 + 0) / 4, abs=1e-12)
    assert metrics(logits[:0], labels[:0])["macro_f1"] == 0.0  # empty: 0, as before


def test_to_memory_format_is_module_to_with_the_keyword() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    out = to_memory_format(model, torch.channels_last)
    assert out is model
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()


def test_augment_keeps_shape_range_and_is_seeded() -> None:
    x = torch.rand(6, 1, 48, 48)
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    c = augment(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_torch_normalise_matches_app_normalise() -> None:
    rng = np.random.default_rng(1)
    p = Preprocessing(input_size=64)
    imgs = [
        np.round(geometric(_phantom(rng, k) / 255.0, p) * 255).astype(np.uint8) for k in range(4)
    ]
    ours = t_normalise(to_float(torch.from_numpy(np.stack(imgs))), p).numpy()
    for k, img in enumerate(imgs):
        ref = normalise(img.astype(np.float32) / np.float32(255.0), p)
        np.testing.assert_allclose(ours[k], ref, atol=1e-5)


def test_cache_is_geometric_of_each_file(synth: dict[str, Path]) -> None:
    cache = load_cache(synth["manifest"], synth["data"], synth["cache"], 32)
    assert cache.images.shape == (40, 32, 32) and cache.images.dtype == np.uint8
    assert list(cache.labels[:5]) == [0, 1, 2, 3, TUMOR_INDEX]
    grey = cv2.imread(str(synth["data"] / cache.paths[7]), cv2.IMREAD_GRAYSCALE) / 255.0
    ref = geometric(grey, Preprocessing(input_size=32))
    assert np.abs(cache.images[7] / 255.0 - ref).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize(
    "arch", ["baseline_cnn", "efficientnet_b0", "efficientnet_lite0", "mobilenet_v2"]
)
def test_train_checkpoint_resume(synth: dict[str, Path], tmp_path: Path, arch: str) -> None:
    common = [
        "--arch",
        arch,
        "--size",
        "32",
        "--batch-size",
        "8",
        "--steps-per-epoch",
        "2",
        "--manifest",
        str(synth["manifest"]),
        "--data-root",
        str(synth["data"]),
        "--cache-dir",
        str(synth["cache"]),
        "--output-dir",
        str(tmp_path),
        "--quiet",
        "--threads",
        "1",
    ]
    main(get_args_parser().parse_args([*common, "--epochs", "1"]))
    ckpt = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["arch"] == arch
    assert ckpt["preprocessing"]["input_size"] == 32
    assert {"model", "optimizer", "lr_scheduler", "args"} <= set(ckpt)
    out = main(
        get_args_parser().parse_args(
            [*common, "--epochs", "2", "--resume", str(tmp_path / "checkpoint.pth")]
        )
    )
    assert [r["epoch"] for r in out["history"]] == [0, 1]
    hist = json.loads((tmp_path / "history.json").read_text())
    assert 0.0 <= hist[-1]["val_accuracy"] <= 1.0 and math.isfinite(hist[-1]["train_loss"])
    ckpt2 = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    assert ckpt2["lr_scheduler"]["last_epoch"] == 4
    if arch == "baseline_cnn":  # teacher logits over the whole cache, then a KD step
        logits = tmp_path / "logits.npy"
        predict_logits(
            get_logits_parser().parse_args(
                ["--checkpoint", str(tmp_path / "best.pth"), "--out", str(logits)]
            )
        )
        assert np.load(logits).shape == (40, 4)
        kd_dir = tmp_path / "kd"
        out = main(
            get_args_parser().parse_args(
                [*common, "--epochs", "1", "--output-dir", str(kd_dir), "--kd-teacher", str(logits)]
            )
        )
        assert math.isfinite(out["history"][0]["train_loss"])


def test_ablation_switches_recorded(synth: dict[str, Path], tmp_path: Path) -> None:
    """--sampling / --intensity-aug reach the checkpoint args and every history row."""
    common = [
        *("--arch", "baseline_cnn", "--size", "32", "--batch-size", "8"),
        *("--steps-per-epoch", "1", "--epochs", "1", "--threads", "1", "--quiet"),
        *("--manifest", str(synth["manifest"]), "--data-root", str(synth["data"])),
        *("--cache-dir", str(synth["cache"])),
    ]
    for flags, sampling, aug in (
        ([], "label_source", True),
        (["--sampling", "balanced"], "balanced", True),
        (["--sampling", "uniform", "--no-intensity-aug"], "uniform", False),
    ):
        out_dir = tmp_path / sampling
        out = main(get_args_parser().parse_args([*common, *flags, "--output-dir", str(out_dir)]))
        assert out["history"][0]["sampling"] == sampling
        assert out["history"][0]["intensity_aug"] is aug
        ckpt = torch.load(out_dir / "checkpoint.pth", weights_only=False)
        assert ckpt["args"]["sampling"] == sampling and ckpt["args"]["intensity_aug"] is aug


def test_warm_start_chain_and_reproducible_commands(synth: dict[str, Path], tmp_path: Path) -> None:
    """A model trained in two runs (--init the first's checkpoint) records both stages,
    and the model card's commands parse back to exactly those arguments."""
    from training.provenance import provenance
    from training.reproduce import train_command
    from training.reproduce import train_commands as _train_commands
    from training.train import warm_start_chain

    common = [
        *("--arch", "baseline_cnn", "--size", "32", "--batch-size", "8"),
        *("--steps-per-epoch", "1", "--threads", "1", "--quiet"),
        *("--manifest", str(synth["manifest"]), "--data-root", str(synth["data"])),
        *("--cache-dir", str(synth["cache"])),
    ]
    first, second = tmp_path / "stage1", tmp_path / "stage2"
    main(get_args_parser().parse_args([*common, "--epochs", "2", "--output-dir", str(first)]))
    flags = ["--epochs", "1", "--lr", "0.0005", "--no-intensity-aug", "--sampling", "uniform"]
    init = ["--init", str(first / "checkpoint.pth")]
    main(get_args_parser().parse_args([*common, *flags, *init, "--output-dir", str(second)]))
    ckpt = torch.load(second / "checkpoint.pth", weights_only=False)
    stage1 = torch.load(first / "checkpoint.pth", weights_only=False)
    assert len(ckpt["init_chain"]) == 1 and stage1["init_chain"] == []
    assert ckpt["init_chain"][0]["epoch"] == 1
    assert ckpt["init_chain"][0]["args"]["output_dir"] == str(first)

    prov = provenance(synth["manifest"], ckpt, None)
    assert [s["args"]["epochs"] for s in prov["earlier_stages"]] == [2]
    # each stage's command, parsed again, gives that stage's arguments
    for args in (prov["training_args"], prov["earlier_stages"][0]["args"]):
        cmd = train_command(args).split()
        assert cmd[:4] == ["python", "-m", "training", "train"]
        again = vars(get_args_parser().parse_args(cmd[4:]))
        assert {k: str(v) for k, v in again.items()} == {k: str(v) for k, v in args.items()}
    text = _train_commands(
        {"training_args": prov["training_args"], "earlier_stages": prov["earlier_stages"]}
    )
    assert text.index("# stage 1 of 2") < text.index("--epochs 2") < text.index("# stage 2 of 2")
    assert "--no-intensity-aug" in text and "--init" in text

    # a third stage on a checkpoint saved before chains were recorded (no init_chain key):
    # the chain is read again from the files while they exist, else taken as recorded
    del ckpt["init_chain"]
    torch.save(ckpt, second / "old.pth")
    third = tmp_path / "stage3"
    init3 = ["--init", str(second / "old.pth"), "--output-dir", str(third)]
    main(get_args_parser().parse_args([*common, "--epochs", "1", *init3]))
    ckpt3 = torch.load(third / "checkpoint.pth", weights_only=False)
    assert [s["args"]["output_dir"] for s in ckpt3["init_chain"]] == [str(second), str(first)]
    assert len(provenance(synth["manifest"], ckpt3, None)["earlier_stages"]) == 2
    (second / "old.pth").unlink()
    recorded = provenance(synth["manifest"], ckpt3, None)["earlier_stages"]
    assert [s["args"]["output_dir"] for s in recorded] == [str(second), str(first)]

    # a run that started from the checkpoint it then overwrote points at itself: no loop
    self_init = ["--init", str(third / "checkpoint.pth"), "--output-dir", str(third)]
    main(get_args_parser().parse_args([*common, "--epochs", "1", *self_init]))
    assert len(warm_start_chain(third / "checkpoint.pth")) == 1


def test_card_commands_include_the_distillation_teacher(
    synth: dict[str, Path], tmp_path: Path
) -> None:
    """The teacher's own training and predict-logits commands come before the student's,
    and a manifest identical to the committed one is written as its repository path."""
    from training.inputs import file_sha256
    from training.provenance import provenance
    from training.reproduce import COMMITTED_MANIFEST
    from training.reproduce import train_commands as _train_commands

    common = [
        *("--arch", "baseline_cnn", "--size", "32", "--batch-size", "8"),
        *("--steps-per-epoch", "1", "--epochs", "1", "--threads", "1", "--quiet"),
        *("--manifest", str(synth["manifest"]), "--data-root", str(synth["data"])),
        *("--cache-dir", str(synth["cache"])),
    ]
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    main(get_args_parser().parse_args([*common, "--lr", "0.003", "--output-dir", str(teacher)]))
    logits = teacher / "logits.npy"
    predict_logits(
        get_logits_parser().parse_args(
            ["--checkpoint", str(teacher / "best.pth"), "--out", str(logits)]
        )
    )
    kd = ["--kd-teacher", str(logits), "--kd-alpha", "0.7", "--output-dir", str(student)]
    main(get_args_parser().parse_args([*common, *kd]))
    ckpt = torch.load(student / "checkpoint.pth", weights_only=False)
    prov = provenance(synth["manifest"], ckpt, None)
    (member,) = prov["teacher"]["members"]
    assert member["checkpoint"] == str(teacher / "best.pth") and member["args"]["lr"] == 0.003
    sha = file_sha256(synth["manifest"])
    assert prov["manifest_sha256"] == sha
    mdl = {
        "training_args": prov["training_args"],
        **{k: prov[k] for k in ("teacher", "manifest_sha256")},
    }
    text = _train_commands(mdl, manifest_sha256=sha)
    lines = text.splitlines()
    teacher_cmd = next(i for i, line in enumerate(lines) if "--lr 0.003" in line)
    logits_cmd = next(i for i, line in enumerate(lines) if "predict-logits" in line)
    student_cmd = next(i for i, line in enumerate(lines) if "--kd-alpha 0.7" in line)
    assert teacher_cmd < logits_cmd < student_cmd
    assert f"--out {logits}" in lines[logits_cmd]
    assert f"--manifest {COMMITTED_MANIFEST}" in lines[student_cmd]
    assert f"--manifest {COMMITTED_MANIFEST}" in lines[teacher_cmd]
    # another manifest (a different sha256) keeps the path it had
    other = _train_commands(mdl, manifest_sha256="0" * 64)
    assert f"--manifest {synth['manifest']}" in other

    # an ensemble teacher: the mean of two networks' logits, both runs in the commands
    second = tmp_path / "teacher2"
    main(get_args_parser().parse_args([*common, "--lr", "0.004", "--output-dir", str(second)]))
    single2 = second / "logits.npy"
    predict_logits(
        get_logits_parser().parse_args(
            ["--checkpoint", str(second / "best.pth"), "--out", str(single2)]
        )
    )
    ens = tmp_path / "ens" / "logits.npy"
    ens.parent.mkdir()
    ckpts = [str(teacher / "best.pth"), str(second / "best.pth")]
    predict_logits(get_logits_parser().parse_args(["--checkpoint", *ckpts, "--out", str(ens)]))
    assert np.allclose(np.load(ens), (np.load(logits) + np.load(single2)) / 2, atol=1e-6)
    kd2 = ["--kd-teacher", str(ens), "--output-dir", str(tmp_path / "student2")]
    main(get_args_parser().parse_args([*common, *kd2]))
    ckpt2 = torch.load(tmp_path / "student2" / "checkpoint.pth", weights_only=False)
    prov2 = provenance(synth["manifest"], ckpt2, None)
    assert [m["checkpoint"] for m in prov2["teacher"]["members"]] == ckpts
    mdl2 = {"training_args": prov2["training_args"], "teacher": prov2["teacher"]}
    text2 = _train_commands(mdl2, manifest_sha256=sha)
    assert "an ensemble, mean of logits" in text2
    assert "--lr 0.003" in text2 and "--lr 0.004" in text2
    assert f"predict-logits --checkpoint {' '.join(ckpts)} --out {ens}" in text2


def _head(size: int = 64) -> torch.Tensor:
    """A bright skull ring around a mid-grey brain, 1 x 1 x size x size."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt() / (size * 0.45)
    img = torch.where(r < 0.85, 0.4, 0.0) + torch.where((r >= 0.85) & (r < 1.0), 0.95, 0.0)
    return img.float()[None, None]


def test_skull_strip_augmentation_removes_the_ring_only_where_a_skull_is() -> None:
    from training.augment import AugmentConfig, _skull_strip

    x = _head().repeat(4, 1, 1, 1)
    cfg = AugmentConfig(p_skull_strip=1.0, strip_share=(0.08, 0.08))
    allowed = torch.tensor([True, True, False, False])
    y = _skull_strip(x, cfg, torch.Generator().manual_seed(0), allowed)
    assert torch.equal(y[2:], x[2:])  # already skull-stripped sources are left alone
    for img in y[:2]:
        assert float((img > 0.8).float().mean()) < 0.01 < float((x[0] > 0.8).float().mean())
        assert float(img[0, 32, 32]) == pytest.approx(0.4, abs=0.02)  # the brain stays


def test_window_and_one_axis_resampling_keep_range_and_are_seeded() -> None:
    from training.augment import AugmentConfig

    x = torch.rand(8, 1, 40, 40)
    cfg = AugmentConfig(p_window=1.0, p_aniso=1.0, p_skull_strip=0.5)
    a = augment(x, torch.Generator().manual_seed(5), cfg, torch.ones(8, dtype=torch.bool))
    b = augment(x, torch.Generator().manual_seed(5), cfg, torch.ones(8, dtype=torch.bool))
    assert torch.equal(a, b) and a.shape == x.shape and 0 <= float(a.min()) <= float(a.max()) <= 1


def test_label_source_sampling_gives_each_label_an_equal_share_shared_by_its_sources() -> None:
    from training.cache import Cache
    from training.train import label_source_weights

    labels = np.array([0] * 90 + [0] * 10 + [2] * 50 + [2] * 5 + [2] * 5, dtype=np.int64)
    sources = np.array(["a"] * 90 + ["b"] * 10 + ["a"] * 50 + ["c"] * 5 + ["d"] * 5)
    cache = Cache(
        images=np.zeros((len(labels), 4, 4), np.uint8),
        labels=labels,
        sources=sources,
        subsets=np.array([""] * len(labels)),
        splits=np.array(["train"] * len(labels)),
        paths=tuple(str(i) for i in range(len(labels))),
        size=4,
    )
    w = label_source_weights(cache, np.arange(len(labels))).numpy()
    assert w.sum() == pytest.approx(1.0)
    assert w[:100].sum() == pytest.approx(0.5) and w[100:].sum() == pytest.approx(0.5)
    assert w[:90].sum() == pytest.approx(0.25) and w[90:100].sum() == pytest.approx(0.25)
    assert w[150:155].sum() == pytest.approx(1 / 6)  # no_tumor has three sources
