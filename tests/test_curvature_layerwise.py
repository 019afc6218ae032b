"""layerwise: per-block spectra, shared probes, traces that add up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cases import DT, gen, make, reference_hessian, single_thread  # noqa: F401
from landscape.curvature import default_layers, layerwise
from landscape.spectra import spectrum_distance

pytestmark = pytest.mark.usefixtures("single_thread")


def offsets(model):
    out, start = {}, 0
    for n, p in model.named_parameters():
        out[n] = torch.arange(start, start + p.numel())
        start += p.numel()
    return out


def block(H, model, names):
    off = offsets(model)
    idx = torch.cat([off[n] for n in names])
    return H[idx][:, idx]


def test_default_layers_group_weight_with_bias():
    case = make("cnn_ce")
    assert default_layers(case.model) == {"conv1": ["conv1.weight", "conv1.bias"],
                                          "conv2": ["conv2.weight", "conv2.bias"],
                                          "fc": ["fc.weight", "fc.bias"]}
    ln = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2, bias=False))
    assert default_layers(ln) == {"0": ["0.weight", "0.bias"], "2": ["2.weight"]}


@pytest.mark.parametrize("batches", ["single", "multi"])
def test_blocks_match_dense_slices_and_traces_add_up(batches):
    case = make("deep_tanh_ce")
    data = case.batch if batches == "single" else case.batches
    H = reference_hessian(case)
    res = layerwise(case.model, case.loss_fn, data, k=2, tol=1e-9, num_matvecs=45, num_probes=2, num_steps=20,
                    seed=3)
    assert list(res) == ["0", "2", "4", "full"] and res.layers == ["0", "2", "4"]
    total = 0.0
    for name in res.layers:
        b = res[name]
        H_BB = block(H, case.model, b.params)
        assert b.dim == H_BB.shape[0]
        assert torch.allclose(b.eigen.values, torch.linalg.eigvalsh(H_BB).flip(0)[:2], rtol=1e-8)
        assert abs(b.trace.value - float(H_BB.trace())) <= 4 * b.trace.stderr + 1e-9
        assert float(b.density.weights.sum()) == pytest.approx(1.0, abs=1e-12)
        assert b.hvps > 0
        total += b.trace.value
    full = res["full"]
    assert full.trace.value == pytest.approx(total, rel=1e-14)          # same probes: the sum is the estimate
    assert abs(full.trace.value - float(H.trace())) <= 4 * full.trace.stderr
    assert torch.allclose(full.eigen.values, torch.linalg.eigvalsh(H).flip(0)[:2], rtol=1e-8)
    assert spectrum_distance(full.density, torch.linalg.eigvalsh(H)) < 0.1 * float(H.norm(2))
    assert res.hvps == sum(b.hvps for b in res.values())
    assert len(res.table()) == 4


def test_one_set_of_probes_serves_every_block():
    case = make("deep_tanh_ce")
    H = reference_hessian(case)
    n, m = H.shape[0], 9
    res = layerwise(case.model, case.loss_fn, case.batches, num_matvecs=m, trace_method="hutchinson",
                    compute=("trace",), include_full=False, seed=13)
    g = gen(13)
    Z = torch.randint(0, 2, (m, n), generator=g, dtype=torch.int8).to(DT) * 2 - 1      # probes over all parameters
    off = offsets(case.model)
    per_probe = torch.zeros(m, dtype=DT)
    for name in res.layers:
        idx = torch.cat([off[p] for p in res[name].params])
        samples = torch.einsum("in,nm,im->i", Z[:, idx], H[idx][:, idx], Z[:, idx])
        assert torch.allclose(res[name].trace.samples, samples, rtol=1e-10)
        assert res[name].trace.hvps == m and res[name].eigen is None and res[name].density is None
        per_probe += samples
    assert torch.allclose(res["full"].trace.samples, per_probe, rtol=1e-10)
    assert res["full"].trace.stderr == pytest.approx(float(per_probe.std() / m ** 0.5), rel=1e-9)


class Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_custom_layers_other_block_and_shared_graph():
    case = make("deep_tanh_ce", batch_sizes=(15,))
    model = Counting(case.model).eval()              # eval: no forwards to test for randomness
    res = layerwise(model, case.loss_fn, case.batch, layers=["inner.0", "inner.4.weight"], k=1, num_matvecs=30,
                    num_probes=2, num_steps=10)
    assert list(res) == ["inner.0", "inner.4.weight", "other", "full"]
    assert res["inner.0"].params == ["inner.0.weight", "inner.0.bias"]
    assert res["other"].params == ["inner.2.weight", "inner.2.bias", "inner.4.bias"]
    assert sum(res[k].dim for k in res.layers) == res["full"].dim
    assert res["full"].trace.value == pytest.approx(sum(res[k].trace.value for k in res.layers), rel=1e-14)
    assert model.calls == 1                      # one forward: every block reuses the same gradient graph
    named = layerwise(case.model, case.loss_fn, case.batch, layers={"head": ["4.weight", "4.bias"]},
                      compute=("eigenvalues",), include_full=False)
    assert list(named) == ["head", "other"]
    assert named["head"].eigen.converged


def test_bad_layers_raise():
    case = make("deep_tanh_ce")
    with pytest.raises(ValueError, match="must not overlap"):
        layerwise(case.model, case.loss_fn, case.batches, layers={"a": ["0.weight"], "b": ["0.weight"]})
    with pytest.raises(ValueError, match="'7.weight' does not exist"):
        layerwise(case.model, case.loss_fn, case.batches, layers={"a": ["7.weight"]})
    with pytest.raises(ValueError, match="'conv' does not exist"):
        layerwise(case.model, case.loss_fn, case.batches, layers=["conv"])
    with pytest.raises(ValueError, match=r"Invalid compute: 'hessian' \(must be one of"):
        layerwise(case.model, case.loss_fn, case.batches, compute=("hessian",))
    with pytest.raises(ValueError, match="reserved"):
        layerwise(case.model, case.loss_fn, case.batches, layers={"full": ["0.weight"]})
