"""Models used across the book.

Every model here is an ordinary :class:`torch.nn.Module`. For per-layer
analysis a *layer* is one weight tensor (``ndim >= 2``), optionally grouped
with the bias of the same sub-module; :func:`layers` lists them by name in
forward order, so ``layers(model)["fc1"] == ["fc1.weight", "fc1.bias"]``.

Models:

- :class:`MLP`: fully connected, any widths, sigmoid / tanh / relu /
  generalized ReLU (leaky type, :math:`f(x) = \\max(x, \\alpha x)`).
- :class:`LeNet5`: the LeNet-5-style CNN of the layerwise-Hessian paper.
- :class:`SmallVGG`, :class:`SmallResNet`: compact CNNs for 32x32 inputs.
- :class:`DeepLinear`: :math:`y = W_H \\cdots W_1 x`, no biases, no nonlinearity.

:func:`build` constructs any of them from a name and keyword arguments, which
is what chapters and cached experiments use (the arguments are the cache key).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from ..validation import check_int, check_ints

__all__ = [
    "GeneralizedReLU",
    "MLP",
    "LeNet5",
    "SmallVGG",
    "SmallResNet",
    "DeepLinear",
    "activation",
    "build",
    "layers",
    "num_parameters",
]


class GeneralizedReLU(nn.Module):
    r"""Generalized (leaky-type) ReLU, :math:`f(x) = \max(x, \alpha x)`, :math:`0 < \alpha < 1`.

    Strictly increasing for :math:`\alpha > 0`, which is what DANTE's
    quasi-convexity argument needs (sinha2020dante; the exact form in the
    paper is **assumed** to be of this leaky type).

    Args:
        alpha: slope for negative inputs, in (0, 1).

    Example:
        >>> GeneralizedReLU(0.1)(torch.tensor([-2.0, 3.0]))
        tensor([-0.2000,  3.0000])
    """

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__()
        if not 0.0 < float(alpha) < 1.0:
            raise ValueError(f"Invalid alpha: {alpha} (GeneralizedReLU needs 0 < alpha < 1)")
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, self.alpha * x)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


_ACTIVATIONS = ("sigmoid", "tanh", "relu", "grelu", "leaky_relu", "identity")


def activation(name: str, slope: float = 0.1) -> nn.Module:
    """The activation module called ``name``: one of sigmoid, tanh, relu,
    grelu (generalized ReLU with ``slope``), leaky_relu (alias of grelu), identity."""
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "relu":
        return nn.ReLU()
    if name in ("grelu", "leaky_relu"):
        return GeneralizedReLU(slope)
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"Invalid activation: {name!r} (choose from {', '.join(_ACTIVATIONS)})")


class MLP(nn.Sequential):
    r"""Multi-layer perceptron :math:`x \mapsto W_L \sigma(\cdots \sigma(W_1 x + b_1)) + b_L`.

    Inputs of any shape ``(N, ...)`` are flattened first. Linear layers are
    named ``fc1 .. fcL`` so ``layers(model)`` gives ``fc1 .. fcL``.

    Args:
        in_features: input size after flattening.
        widths: hidden widths, e.g. ``(32, 32)``; empty for a linear model.
        out_features: number of outputs (classes).
        activation: sigmoid, tanh, relu or grelu.
        slope: the negative slope of grelu.
        bias: whether linear layers have biases.

    Example:
        >>> m = MLP(64, [16], 10)
        >>> m(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        slope: float = 0.1,
        bias: bool = True,
    ) -> None:
        check_int("in_features", in_features, minimum=1)
        check_int("out_features", out_features, minimum=1)
        widths = check_ints("widths", widths, minimum=1)
        modules: "OrderedDict[str, nn.Module]" = OrderedDict(flatten=nn.Flatten())
        sizes = [in_features, *widths, out_features]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            modules[f"fc{i}"] = nn.Linear(a, b, bias=bias)
            if i < len(sizes) - 1:
                modules[f"act{i}"] = globals()["activation"](activation, slope)
        super().__init__(modules)


class LeNet5(nn.Module):
    """LeNet-5-style CNN: conv(6,5) - pool - conv(16,5) - pool - fc120 - fc84 - fc.

    Works for any square input of side >= 8 (28x28 MNIST, 32x32 CIFAR, 8x8
    digits with ``padding=2`` on the first conv): the flattened size is
    computed from ``input_size``.

    Args:
        in_channels: 1 for grey images, 3 for colour.
        num_classes: outputs.
        input_size: side of the square input.
        activation: activation after each conv and hidden linear layer.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: int = 28,
        *,
        activation: str = "relu",
        width: int = 1,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("num_classes", num_classes, minimum=1)
        check_int("width", width, minimum=1)
        if input_size < 8:
            raise ValueError(f"Invalid input_size: {input_size} (LeNet5 needs at least 8)")
        act = globals()["activation"]
        c1, c2 = 6 * width, 16 * width
        pad = 2 if input_size < 28 else 0
        self.conv1 = nn.Conv2d(in_channels, c1, 5, padding=2 if input_size <= 28 else 0)
        self.act1 = act(activation)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=pad)
        self.act2 = act(activation)
        self.pool2 = nn.MaxPool2d(2)
        with torch.no_grad():
            n = self._features(torch.zeros(1, in_channels, input_size, input_size)).shape[1]
        self.fc1 = nn.Linear(n, 120)
        self.act3 = act(activation)
        self.fc2 = nn.Linear(120, 84)
        self.act4 = act(activation)
        self.fc3 = nn.Linear(84, num_classes)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._features(x)
        return self.fc3(self.act4(self.fc2(self.act3(self.fc1(x)))))


class SmallVGG(nn.Module):
    """A compact VGG-style CNN for 32x32 inputs: blocks of two 3x3 convs
    (with batch norm) and a max-pool, then a linear classifier.

    Args:
        in_channels: input channels.
        num_classes: outputs.
        channels: channels of each block, e.g. ``(32, 64, 128)``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, channels: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        channels = check_ints("channels", channels, minimum=1, min_len=1)
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            blocks += [
                nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c_in = c
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A compact ResNet for 32x32 inputs: a stem conv, then stages of basic
    residual blocks (``blocks`` per stage, width doubling and stride 2 from
    the second stage), global average pooling and a linear classifier.
    ``SmallResNet(blocks=2, widths=(64, 128, 256, 512))`` is ResNet-18's layout.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        blocks: int = 1,
    ) -> None:
        super().__init__()
        widths = check_ints("widths", widths, minimum=1, min_len=1)
        check_int("blocks", blocks, minimum=1)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages: list[nn.Module] = []
        c_in = widths[0]
        for i, c in enumerate(widths):
            for j in range(blocks):
                stages.append(_BasicBlock(c_in, c, stride=2 if (i > 0 and j == 0) else 1))
                c_in = c
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


class DeepLinear(nn.Sequential):
    r"""Deep linear network :math:`y = W_H \cdots W_1 x` (no biases).

    Layers are named ``W1 .. WH`` (``W1`` acts first). :meth:`product`
    returns the end-to-end matrix :math:`W = W_H \cdots W_1` of shape
    ``(dims[-1], dims[0])``.

    Args:
        dims: layer sizes ``(d_0, d_1, ..., d_H)``; at least two.
        init_scale: weights drawn from :math:`N(0, \text{init\_scale}^2 / d_{in})`;
            small values start the network near the saddle at zero.
        generator: the random generator for the initialization (seeded, explicit).
    """

    def __init__(self, dims: Sequence[int], *, init_scale: float = 1.0, generator: torch.Generator | None = None) -> None:
        dims = check_ints("dims", dims, minimum=1)
        if len(dims) < 2:
            raise ValueError(f"Invalid dims: {dims} (needs at least input and output sizes)")
        if not init_scale >= 0:
            raise ValueError(f"Invalid init_scale: {init_scale} (must be >= 0)")
        modules = OrderedDict(
            (f"W{i}", nn.Linear(a, b, bias=False)) for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]), start=1)
        )
        super().__init__(modules)
        with torch.no_grad():
            for lin in self:
                w = torch.randn(lin.weight.shape, generator=generator) * (init_scale / lin.in_features**0.5)
                lin.weight.copy_(w)

    def product(self) -> torch.Tensor:
        """The end-to-end matrix :math:`W_H \\cdots W_1` (detached)."""
        with torch.no_grad():
            w = self[0].weight
            for lin in list(self)[1:]:
                w = lin.weight @ w
        return w.detach().clone()


_MODELS = {"mlp": MLP, "lenet5": LeNet5, "vgg": SmallVGG, "resnet": SmallResNet, "linear": DeepLinear}


def build(name: str, *, seed: int | None = 0, dtype: torch.dtype | None = None, device: str | torch.device | None = None, **kwargs) -> nn.Module:
    """Build model ``name`` (mlp, lenet5, vgg, resnet, linear) with ``kwargs``.

    The weights are initialized under ``torch.random.fork_rng`` seeded with
    ``seed``, so the global RNG is left untouched and the same arguments give
    the same weights.

    Example:
        >>> a = build("mlp", in_features=4, widths=[3], out_features=2, seed=1)
        >>> b = build("mlp", in_features=4, widths=[3], out_features=2, seed=1)
        >>> bool(torch.equal(a.fc1.weight, b.fc1.weight))
        True
    """
    if name not in _MODELS:
        raise ValueError(f"Invalid model: {name!r} (choose from {', '.join(_MODELS)})")
    cls = _MODELS[name]
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if cls is DeepLinear and seed is not None and "generator" not in kwargs:
            kwargs["generator"] = torch.Generator().manual_seed(seed)
        model = cls(**kwargs)
    if dtype is not None or device is not None:
        model = model.to(device=device, dtype=dtype)
    return model


def layers(model: nn.Module) -> "OrderedDict[str, list[str]]":
    """The model's layers, in ``named_parameters`` order: one per trainable
    weight tensor (``ndim >= 2``), named by its module path, each with the
    parameter names it covers (the weight and, if present, the bias of the
    same module). A trainable tensor with ``ndim >= 2`` not named ``weight``
    is a layer of its own, named after the parameter. Norm-layer scales and
    lone biases belong to no layer.

    Example:
        >>> list(layers(MLP(4, [3], 2)).items())
        [('fc1', ['fc1.weight', 'fc1.bias']), ('fc2', ['fc2.weight', 'fc2.bias'])]
    """
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    out: "OrderedDict[str, list[str]]" = OrderedDict()
    for name, p in trainable.items():
        if p.ndim < 2:
            continue
        if name == "weight" or name.endswith(".weight"):
            prefix = name[: -len("weight")].rstrip(".")
            bias = f"{prefix}.bias" if prefix else "bias"
            out[prefix or name] = [name] + ([bias] if bias in trainable and trainable[bias].ndim < 2 else [])
        else:
            out[name] = [name]
    return out


def num_parameters(model: nn.Module, *, trainable: bool = True) -> int:
    """Number of (trainable) scalar parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)
