r"""Per-layer curvature: top eigenvalues, trace and density of each diagonal block.

For a partition of the parameters into blocks :math:`B` (layers), :func:`layerwise`
reports for every block the spectrum of :math:`H_{BB}` and, under ``"full"``, of the
whole Hessian :math:`H`.

How work is shared:

* **One gradient graph.**  All blocks are views (:meth:`HessianOperator.block`) of
  one operator over every trainable parameter; for a single batch the
  double-backprop graph is built once and serves every block's HVPs
  (:math:`H_{BB} v_B = \nabla_{\theta_B}(g_B \cdot v_B)` through the shared graph).
* **One set of trace probes.**  Rademacher probes :math:`z` are drawn once over the
  full parameter vector; block :math:`B` uses the restriction :math:`z_B` (itself
  Rademacher), costing HVPs of :math:`H_{BB}` only.  Because
  :math:`\mathbb E[z_B^\top H_{BB} z_B] = \operatorname{tr} H_{BB}` and
  :math:`\operatorname{tr} H = \sum_B \operatorname{tr} H_{BB}`,

  .. math::

      \widehat{\operatorname{tr}}(H) = \sum_B \widehat{\operatorname{tr}}(H_{BB})

  is an unbiased estimate of the full trace computed from the same probes: it is
  what ``result["full"].trace`` reports (its ``stderr`` comes from the per-probe sums
  :math:`\sum_B z_B^\top H_{BB} z_B`, so it accounts for correlations between
  blocks), and the per-layer traces add up to it exactly.  With Hutch++ each block
  deflates with its own :math:`\operatorname{orth}(H_{BB} S_B)` from the shared
  :math:`S`.  Parameters outside every named layer form the block ``"other"``, so the
  blocks always partition the network.
* Eigenvalues and densities need Krylov spaces of each block, which do not transfer
  between blocks: they are run per block (and for ``"full"`` with the full
  operator), sharing only the graph.

Cost (HVPs): per block ``num_matvecs`` for the trace, the Lanczos count for the
eigenvalues, ``num_probes * num_steps`` for the density; the same again for
``"full"`` except the trace (free).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..validation import check_choice, check_int
from ._utils import make_generator, op_info
from .density import SpectralDensity, spectral_density
from .hvp import HessianOperator, resolve_params
from .lanczos import EigenResult, eigenvalues
from .trace import TraceResult, draw_probes, estimate_from_probes, split_budget, summarize

__all__ = ["layerwise", "default_layers", "LayerwiseResult", "BlockSpectrum"]

_COMPUTE = ("eigenvalues", "trace", "density")
FULL = "full"
OTHER = "other"


def default_layers(model: nn.Module) -> dict[str, list[str]]:
    """Default layer blocks: :func:`landscape.training.models.layers` - every trainable
    tensor with ``ndim >= 2``, with its bias. Everything else (norm-layer
    scales, lone biases) is left to the ``"other"`` block of :func:`layerwise`."""
    from ..training.models import layers as model_layers

    return dict(model_layers(model))


def _resolve_layers(model: nn.Module, layers: Any, all_names: list[str]) -> dict[str, list[str]]:
    if layers is None:
        spec = default_layers(model)
    elif isinstance(layers, Mapping):
        spec = {}
        for key, names in layers.items():
            if isinstance(names, str):
                names = [names]
            spec[str(key)] = list(names)
    elif isinstance(layers, (list, tuple)):
        spec = {}
        for entry in layers:
            if not isinstance(entry, str):
                raise ValueError(f"layers entries must be parameter names or module prefixes, got {entry!r}")
            if entry in all_names:
                spec[entry] = [entry]
            else:
                members = [n for n in all_names if n.startswith(entry + ".")]
                if not members:
                    raise ValueError(f"parameter {entry!r} does not exist in the model (neither a trainable "
                                     "parameter name nor a module prefix)")
                spec[entry] = members
    else:
        raise ValueError("layers must be None, a dict name -> parameter names, or a list of parameter names")
    seen: dict[str, str] = {}
    for key, names in spec.items():
        if key in (FULL, OTHER) and layers is not None:
            raise ValueError(f"layer name {key!r} is reserved")
        if not names:
            raise ValueError(f"layer {key!r} has no parameters")
        for n in names:
            if n not in all_names:
                raise ValueError(f"parameter {n!r} does not exist in the model (or is not trainable)")
            if n in seen:
                raise ValueError(f"parameter {n!r} appears in layers {seen[n]!r} and {key!r}: layers must not overlap")
            seen[n] = key
    rest = [n for n in all_names if n not in seen]
    if rest:
        spec[OTHER] = rest
    if not spec:
        raise ValueError("no layers selected")
    return spec


@dataclass
class BlockSpectrum:
    """Curvature summary of one block (a layer, ``"other"`` or ``"full"``).

    Attributes:
        name: block name.
        params: parameter names in the block.
        dim: number of scalar parameters.
        eigen: top eigenpairs (:class:`EigenResult`) or ``None`` if not computed.
        trace: trace estimate (:class:`TraceResult`) or ``None``.
        density: spectral density (:class:`SpectralDensity`) or ``None``.
        hvps: HVPs spent on this block.
    """

    name: str
    params: list[str]
    dim: int
    eigen: EigenResult | None = None
    trace: TraceResult | None = None
    density: SpectralDensity | None = None
    hvps: int = 0

    @property
    def top(self) -> torch.Tensor | None:
        """The computed eigenvalues (shortcut for ``eigen.values``)."""
        return None if self.eigen is None else self.eigen.values

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {"block": self.name, "dim": self.dim, "hvps": self.hvps}
        if self.eigen is not None:
            row["lambda_1"] = float(self.eigen.values[0])
            row["eig_converged"] = self.eigen.converged
        if self.trace is not None:
            row["trace"] = self.trace.value
            row["trace_stderr"] = self.trace.stderr
            row["trace_per_param"] = self.trace.value / self.dim
        if self.density is not None:
            row["support"] = self.density.support
        return row


@dataclass
class LayerwiseResult(Mapping):
    """Mapping ``block name -> BlockSpectrum``: the layers (in model order), maybe
    ``"other"``, and ``"full"``.

    Attributes:
        blocks: the underlying dict.
        hvps: total HVPs spent.
        layers: names of the per-layer blocks (everything except ``"full"``).
    """

    blocks: dict[str, BlockSpectrum] = field(default_factory=dict)
    hvps: int = 0

    def __getitem__(self, key: str) -> BlockSpectrum:
        return self.blocks[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def layers(self) -> list[str]:
        return [k for k in self.blocks if k != FULL]

    def table(self) -> list[dict[str, Any]]:
        """One summary row per block (handy for ``pandas.DataFrame(result.table())``)."""
        return [b.summary() for b in self.blocks.values()]

    def __repr__(self) -> str:
        rows = []
        for b in self.blocks.values():
            s = f"  {b.name}: dim={b.dim}"
            if b.eigen is not None:
                s += f", lambda_1={float(b.eigen.values[0]):.5g}"
            if b.trace is not None:
                s += f", trace={b.trace.value:.5g}+-{b.trace.stderr:.2g}"
            rows.append(s)
        return "LayerwiseResult(\n" + "\n".join(rows) + f"\n  hvps={self.hvps})"


def layerwise(model: nn.Module, loss_fn: Callable, data: Any, *, layers: Any = None, kind: str = "hessian",
              k: int = 1, which: str = "largest", tol: float = 1e-6, max_hvps: int | None = None,
              num_matvecs: int = 30, trace_method: str = "hutch++", num_probes: int = 4, num_steps: int = 40,
              seed: int = 0, compute: tuple[str, ...] = _COMPUTE, include_full: bool = True,
              **data_options: Any) -> LayerwiseResult:
    r"""Top eigenvalues, trace and spectral density per layer and for the whole network.

    Args:
        model, loss_fn, data, kind: as for :class:`HessianOperator`.
        data_options: ``reduction``, ``batch_size_fn``, ``split_batch``, ``forward_fn``,
            ``forward_seed``, passed to :class:`HessianOperator`.
        layers: ``None`` (:func:`default_layers`), a dict ``name -> [parameter names]``,
            or a list whose entries are parameter names (a block each) or module
            prefixes (all parameters under ``prefix.``).  Layers must not overlap;
            leftover trainable parameters form the block ``"other"``.
        k, which, tol, max_hvps: passed to :func:`eigenvalues` (``k`` is capped at
            each block's dimension).
        num_matvecs, trace_method: trace budget per block and method
            (``"hutch++"``/``"hutchinson"``), see :func:`trace`.
        num_probes, num_steps: :func:`spectral_density` settings.
        seed: one seed for everything (probes are drawn once for the traces).
        compute: any of ``"eigenvalues"``, ``"trace"``, ``"density"``.
        include_full: also compute eigenvalues and density of the full Hessian (the
            full trace is always reported when traces are computed: it is free).

    Returns:
        :class:`LayerwiseResult`, mapping block name -> :class:`BlockSpectrum`.

    Raises:
        ValueError: unknown parameter names, overlapping layers, unknown
            ``compute``/``trace_method``/``which``/``kind``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
        >>> x, y = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.arange(8) % 2
        >>> res = layerwise(model, torch.nn.functional.cross_entropy, (x, y), k=1, compute=("trace",))
        >>> list(res)
        ['0', '2', 'full']
        >>> bool(abs(res["0"].trace.value + res["2"].trace.value - res["full"].trace.value) < 1e-12)
        True
    """
    compute = tuple(compute)
    for c in compute:
        check_choice("compute", c, _COMPUTE)
    check_choice("method", trace_method, ("hutch++", "hutchinson"))
    check_choice("which", which, ("largest", "smallest", "magnitude"))
    k = check_int("k", k, minimum=1)
    num_matvecs = check_int("num_matvecs", num_matvecs, minimum=3 if trace_method == "hutch++" else 1)
    all_names, _ = resolve_params(model, None)
    spec = _resolve_layers(model, layers, all_names)
    full_op = HessianOperator(model, loss_fn, data, kind=kind, **data_options)
    ops = {name: full_op.block(names) for name, names in spec.items()}
    result = LayerwiseResult()
    for name, names in spec.items():
        result.blocks[name] = BlockSpectrum(name=name, params=list(names), dim=ops[name].shape[0])
    full = BlockSpectrum(name=FULL, params=list(full_op.param_names), dim=full_op.shape[0])

    if "trace" in compute:
        gen = make_generator(seed)
        s, g = split_budget(num_matvecs, trace_method)
        n = full_op.shape[0]
        S = draw_probes(n, s, gen, full_op.dtype, full_op.device)
        G = draw_probes(n, g, gen, full_op.dtype, full_op.device)
        low_total = torch.zeros((), dtype=torch.float64, device=full_op.device)
        samples_total = torch.zeros(g, dtype=torch.float64, device=full_op.device)
        hvps_total = 0
        for name, op in ops.items():
            idx = torch.cat([torch.arange(op_sl.start, op_sl.stop, device=full_op.device)
                             for op_sl in (full_op.param_slices[p] for p in op.param_names)])
            low, samples, used = estimate_from_probes(op_info(op), S[idx], G[idx])
            value, stderr = summarize(low, samples)
            result.blocks[name].trace = TraceResult(value=value, stderr=stderr, hvps=used, method=trace_method,
                                                    samples=samples.cpu(), lowrank=float(low))
            low_total = low_total + low
            samples_total = samples_total + samples
            hvps_total += used
        # the full estimate is the sum of the block estimates (same probes)
        value = sum(result.blocks[name].trace.value for name in spec)
        _, stderr = summarize(low_total, samples_total)
        full.trace = TraceResult(value=value, stderr=stderr, hvps=0, method=trace_method,
                                 samples=samples_total.cpu(), lowrank=float(low_total))

    targets = list(spec) + ([FULL] if include_full else [])
    for name in targets:
        op = full_op if name == FULL else ops[name]
        block = full if name == FULL else result.blocks[name]
        if "eigenvalues" in compute:
            block.eigen = eigenvalues(op, min(k, op.shape[0]), which=which, tol=tol, max_hvps=max_hvps, seed=seed)
        if "density" in compute:
            block.density = spectral_density(op, num_probes=num_probes, num_steps=num_steps, seed=seed)
    for name, op in ops.items():
        result.blocks[name].hvps = op.hvps
    full.hvps = full_op.hvps
    if include_full or "trace" in compute:
        result.blocks[FULL] = full
    result.hvps = sum(op.hvps for op in ops.values()) + full_op.hvps
    full_op.release()
    return result
