"""Models and data as users bring them, with the dense float64 Hessian of the total loss each defines.

A :class:`UserCase` holds what a user passes to :class:`landscape.curvature.HessianOperator`
(``model``, ``loss_fn``, ``data``, keyword ``options``) and, separately, what the reference
differentiates: the batches as ``(inputs, targets)`` and the weight of each batch's loss in the
total (``n_b / N`` for a mean, 1 for a sum). The reference (:func:`reference_hessian`) is
reverse-over-reverse (``torch.autograd.functional.hessian``) of

    f(theta) = sum_b w_b loss_fn(model_theta(inputs_b), targets_b)

through ``torch.func.functional_call`` on copies of the buffers (a batch norm in training mode
uses batch statistics and changes nothing), on the math attention kernel, and for a seeded
stochastic forward under the RNG seed ``seed + b`` for batch ``b``: independent of
``landscape.curvature``. Every model is built under a forked, seeded RNG.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

DT = torch.float64


def built(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """``make()`` under a forked RNG seeded with ``seed``, in float64 (the global RNG is untouched)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return make().to(DT)


def data_rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(10_000 + seed)


@dataclass
class UserCase:
    name: str
    model: nn.Module
    loss_fn: Callable
    data: Any
    batches: list[tuple[Any, torch.Tensor]]
    weights: list[float]
    options: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


def _call(model: nn.Module, params: dict, inputs: Any) -> Any:
    state = {**{k: b.detach().clone() for k, b in model.named_buffers()}, **params}
    if isinstance(inputs, collections.abc.Mapping):
        return functional_call(model, state, (), dict(inputs))
    if isinstance(inputs, (tuple, list)):
        return functional_call(model, state, tuple(inputs))
    return functional_call(model, state, (inputs,))


def flat_total_loss(case: UserCase):
    """``(f, theta0)``: the case's total loss as a function of its flat trainable parameters."""
    named = {n: p.detach() for n, p in case.model.named_parameters() if p.requires_grad}
    names = list(named)
    shapes, numels = [named[n].shape for n in names], [named[n].numel() for n in names]
    theta0 = torch.cat([named[n].reshape(-1) for n in names])
    seed = case.options.get("forward_seed")

    def f(flat):
        params = {n: piece.reshape(s) for n, piece, s in zip(names, torch.split(flat, numels), shapes)}
        total = 0.0
        for b, ((x, y), w) in enumerate(zip(case.batches, case.weights)):
            with torch.random.fork_rng(), sdpa_kernel(SDPBackend.MATH):
                if seed is not None:
                    torch.manual_seed(seed + b)
                total = total + w * case.loss_fn(_call(case.model, params, x), y)
        return total

    return f, theta0


def reference_hessian(case: UserCase) -> torch.Tensor:
    f, theta0 = flat_total_loss(case)
    return torch.autograd.functional.hessian(f, theta0)


# ----------------------------------------------------------------------------- models


class SeqLSTM(nn.Module):
    """A sequence-first LSTM tagger: (T, N, 3) -> (T, N, 3) class scores."""

    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(3, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


class Encoder(nn.Module):
    """One transformer encoder layer (batch first, no dropout), mean-pooled, then a linear head."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.layer(x).mean(1))


class TinyGPT(nn.Module):
    """Token and position embeddings, one causal self-attention block (``scaled_dot_product_attention``,
    two heads), LayerNorm and a head: (N, T) tokens -> (N, V, T) next-token scores."""

    def __init__(self, vocab: int = 11, d: int = 8, context: int = 6):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Parameter(0.1 * torch.randn(context, d))
        self.qkv, self.proj, self.norm, self.head = nn.Linear(d, 3 * d), nn.Linear(d, d), nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, tokens):
        n, t = tokens.shape
        h = self.tok(tokens) + self.pos[:t]
        q, k, v = self.qkv(h).view(n, t, 3, 2, -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, t, -1)
        return self.head(self.norm(h + self.proj(a))).transpose(1, 2)


class KeywordNet(nn.Module):
    """A model called with keywords, as a tokenizer's output is passed: ``model(x=..., scale=...)``."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))

    def forward(self, x, scale):
        return self.body(x * scale)


class Tied(nn.Module):
    """Two layers that share one weight (``b.weight is a.weight``), then a head."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 3)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.head(torch.tanh(self.b(torch.tanh(self.a(x)))))


def mlp(seed: int, *mid: nn.Module) -> nn.Sequential:
    return built(seed, lambda: nn.Sequential(nn.Linear(5, 6), *mid, nn.Tanh(), nn.Linear(6, 3)))


# ----------------------------------------------------------------------------- data


def classes(g, sizes, n_in=5, n_classes=3):
    return [(torch.randn(b, n_in, generator=g, dtype=DT), torch.randint(0, n_classes, (b,), generator=g)) for b in sizes]


def mean_weights(sizes):
    return [s / sum(sizes) for s in sizes]


class DictSamples(torch.utils.data.Dataset):
    """Samples as dicts ``{"x", "scale", "labels"}``: a DataLoader collates them into dict batches."""

    def __init__(self, x, scale, y):
        self.x, self.scale, self.y = x, scale, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "scale": self.scale[i], "labels": self.y[i]}


# ----------------------------------------------------------------------------- the registry


def make(name: str, seed: int = 0) -> UserCase:
    """A case of :data:`NAMES`."""
    g = data_rng(seed)
    if name == "sum_loss_batches":           # nn.CrossEntropyLoss(reduction="sum") over unequal batches
        batches = classes(g, (9, 7, 4))
        return UserCase(name, mlp(seed), nn.CrossEntropyLoss(reduction="sum"), batches, batches, [1.0] * 3)
    if name == "sum_loss_shuffled_loader":   # a partial with reduction="sum", a shuffled DataLoader
        (x, y), = [(torch.randn(23, 5, generator=g, dtype=DT), torch.randn(23, 3, generator=g, dtype=DT))]
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=6, shuffle=True,
                                             generator=torch.Generator().manual_seed(seed))
        return UserCase(name, mlp(seed), functools.partial(F.mse_loss, reduction="sum"), loader, [(x, y)], [1.0])
    if name == "mean_loss_drop_last_loader":
        x, y = torch.randn(23, 5, generator=g, dtype=DT), torch.randint(0, 3, (23,), generator=g)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=5, drop_last=True)
        return UserCase(name, mlp(seed), F.cross_entropy, loader, [(x[:20], y[:20])], [1.0])
    if name == "declared_mean_lambda":
        batches = classes(g, (6, 10))
        return UserCase(name, mlp(seed), lambda out, t: F.cross_entropy(out, t) + 0.1 * out.pow(2).mean(), batches,
                        batches, mean_weights((6, 10)), {"reduction": "mean"})
    if name == "lstm_sequence_first":        # (T, N) targets, declared by batch_size_fn
        sizes = (3, 5)
        batches = [(torch.randn(4, n, 3, generator=g, dtype=DT), torch.randint(0, 3, (4, n), generator=g)) for n in sizes]
        loss = lambda out, t: F.cross_entropy(out.reshape(-1, 3), t.reshape(-1))
        return UserCase(name, built(seed, SeqLSTM), loss, batches, batches, mean_weights(sizes),
                        {"reduction": "mean", "batch_size_fn": lambda x, t: t.shape[1]})
    if name == "transformer_encoder":        # scaled_dot_product_attention inside nn.MultiheadAttention
        sizes = (4, 3)
        batches = [(torch.randn(n, 5, 8, generator=g, dtype=DT), torch.randint(0, 3, (n,), generator=g)) for n in sizes]
        return UserCase(name, built(seed, Encoder), F.cross_entropy, batches, batches, mean_weights(sizes))
    if name == "tiny_gpt":                   # causal attention on token data
        sizes = (3, 2)
        tokens = [torch.randint(0, 11, (n, 7), generator=g) for n in sizes]
        batches = [(t[:, :-1], t[:, 1:]) for t in tokens]
        return UserCase(name, built(seed, TinyGPT), F.cross_entropy, batches, batches, mean_weights(sizes))
    if name == "layernorm_mlp":
        batches = classes(g, (10,))
        return UserCase(name, mlp(seed, nn.LayerNorm(6)), F.cross_entropy, batches[0], batches, [1.0])
    if name == "batchnorm_train":            # batch statistics, two batches
        batches = classes(g, (8, 6))
        return UserCase(name, mlp(seed, nn.BatchNorm1d(6)).train(), F.cross_entropy, batches, batches,
                        mean_weights((8, 6)))
    if name == "dropout_seeded":             # a fixed mask per batch, asked for explicitly
        batches = classes(g, (8, 6))
        return UserCase(name, mlp(seed, nn.Dropout(0.3)).train(), F.cross_entropy, batches, batches,
                        mean_weights((8, 6)), {"forward_seed": 5})
    if name in ("dict_batches", "userdict_batches", "dict_loader"):
        x, s, y = (torch.randn(12, 5, generator=g, dtype=DT), torch.rand(12, 1, generator=g, dtype=DT) + 0.5,
                   torch.randint(0, 3, (12,), generator=g))
        ref = [({"x": x[:7], "scale": s[:7]}, y[:7]), ({"x": x[7:], "scale": s[7:]}, y[7:])]
        if name == "dict_loader":
            data = torch.utils.data.DataLoader(DictSamples(x, s, y), batch_size=7)
        else:
            kind = dict if name == "dict_batches" else collections.UserDict
            data = [kind({"x": x[:7], "scale": s[:7], "labels": y[:7]}), kind({"x": x[7:], "scale": s[7:], "labels": y[7:]})]
        return UserCase(name, built(seed, KeywordNet), F.cross_entropy, data, ref, mean_weights((7, 5)))
    if name == "frozen_and_tied":            # one weight used by two layers, a frozen bias
        model = built(seed, Tied)
        model.head.bias.requires_grad_(False)
        batches = classes(g, (9, 5))
        return UserCase(name, model, F.cross_entropy, batches, batches, mean_weights((9, 5)))
    raise KeyError(name)


NAMES = ("sum_loss_batches", "sum_loss_shuffled_loader", "mean_loss_drop_last_loader", "declared_mean_lambda",
         "lstm_sequence_first", "transformer_encoder", "tiny_gpt", "layernorm_mlp", "batchnorm_train",
         "dropout_seeded", "dict_batches", "userdict_batches", "dict_loader", "frozen_and_tied")
