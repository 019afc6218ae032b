"""HessianOperator and dense_hessian against independent torch.func references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cases import DT, NAMES, flat_loss, gen, make, randn, reference_ggn, reference_hessian, single_thread  # noqa: F401
from landscape.curvature import HessianOperator, dense_hessian

pytestmark = pytest.mark.usefixtures("single_thread")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("name", NAMES)
def test_dense_hessian_matches_the_reverse_over_reverse_reference(name):
    case = make(name)
    H = dense_hessian(case.model, case.loss_fn, case.batches)
    R = reference_hessian(case)
    assert H.shape == (case.n, case.n)
    assert rel(H, R) < 1e-12
    assert torch.equal(H, H.T)


def test_dense_hessian_matches_torch_func_where_it_is_right():
    """torch.func's forward-over-reverse Hessian, another reference, agrees on a plain MLP."""
    case = make("mlp_relu_ce", batch_sizes=(16,))
    f, theta0 = flat_loss(case)
    R = torch.func.hessian(f)(theta0)
    H = dense_hessian(case.model, case.loss_fn, case.batch)
    assert rel(H, R) < 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_matvec_and_matmat_equal_dense(name):
    case = make(name)
    H = reference_hessian(case)
    op = HessianOperator(case.model, case.loss_fn, case.batches)
    g = gen(3)
    v = randn(case.n, g=g)
    V = randn(case.n, 4, g=g)
    assert rel(op @ v, H @ v) < 1e-10
    assert rel(op @ V, H @ V) < 1e-10
    assert rel(op.matvec(v), H @ v) < 1e-10
    assert (op @ v).shape == (case.n,) and (op @ V).shape == (case.n, 4)
    assert op.shape == (case.n, case.n) and op.dtype == DT and op.device == torch.device("cpu")


@pytest.mark.parametrize("name", ["mlp_tanh_ce", "cnn_ce"])
def test_block_is_slice_of_dense(name):
    case = make(name)
    H = reference_hessian(case)
    all_names = [n for n, _ in case.model.named_parameters()]
    offsets, start = {}, 0
    for n, p in case.model.named_parameters():
        offsets[n] = torch.arange(start, start + p.numel())
        start += p.numel()
    block = [all_names[-1], all_names[0]]            # non-contiguous, given out of model order
    idx = torch.cat([offsets[n] for n in block])
    H_BB = H[idx][:, idx]
    op = HessianOperator(case.model, case.loss_fn, case.batches, params=block)
    assert op.shape[0] == idx.numel() and op.param_names == block
    v = randn(idx.numel(), 3, g=gen(4))
    assert rel(op @ v, H_BB @ v) < 1e-10
    assert rel(dense_hessian(case.model, case.loss_fn, case.batches, params=block), H_BB) < 1e-12
    assert rel(reference_hessian(case, block), H_BB) < 1e-12
    full = HessianOperator(case.model, case.loss_fn, case.batches)
    assert rel(full.block(block) @ v, H_BB @ v) < 1e-10


@pytest.mark.parametrize("name", ["mlp_tanh_ce", "mlp_sigmoid_mse", "cnn_ce"])
def test_ggn_equals_dense_jacobian_product(name):
    case = make(name)
    G = reference_ggn(case)
    D = dense_hessian(case.model, case.loss_fn, case.batches, kind="ggn")
    assert rel(D, G) < 1e-10
    op = HessianOperator(case.model, case.loss_fn, case.batches, kind="ggn")
    v = randn(case.n, 2, g=gen(5))
    assert rel(op @ v, G @ v) < 1e-10
    # the GGN of a convex loss is positive semi-definite, the Hessian is not here
    assert torch.linalg.eigvalsh(G).min() > -1e-12 * G.norm()
    assert torch.linalg.eigvalsh(reference_hessian(case)).min() < -1e-6


@pytest.mark.parametrize("name", NAMES)
def test_unequal_batches_combine_exactly(name):
    case = make(name, batch_sizes=(11, 6, 3))
    V = randn(case.n, 3, g=gen(6))
    multi = HessianOperator(case.model, case.loss_fn, case.batches) @ V
    single = HessianOperator(case.model, case.loss_fn, case.batch) @ V
    from_iter = HessianOperator(case.model, case.loss_fn, iter(case.batches)) @ V
    assert rel(multi, single) < 1e-12
    assert torch.equal(multi, from_iter)
    ggn_multi = HessianOperator(case.model, case.loss_fn, case.batches, kind="ggn") @ V
    ggn_single = HessianOperator(case.model, case.loss_fn, case.batch, kind="ggn") @ V
    assert rel(ggn_multi, ggn_single) < 1e-12
    # a plain (unweighted) average of the batch Hessians is different: the weighting matters
    ops = [HessianOperator(case.model, case.loss_fn, b) @ V for b in case.batches]
    assert rel(sum(ops) / len(ops), single) > 1e-3


def test_hvps_counter_counts_columns():
    case = make("mlp_tanh_ce")
    op = HessianOperator(case.model, case.loss_fn, case.batches)
    assert op.hvps == 0
    op @ torch.zeros(case.n, dtype=DT)
    op @ torch.zeros(case.n, 4, dtype=DT)
    assert op.hvps == 5
    blk = op.block(["0.weight"])
    blk @ torch.zeros(blk.shape[0], 2, dtype=DT)
    assert blk.hvps == 2 and op.hvps == 5
    op.hvps = 0
    op @ torch.zeros(case.n, 3, dtype=DT)
    assert op.hvps == 3


class Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("training", [True, False])
def test_no_side_effects_and_lazy_graph(training):
    case = make("mlp_tanh_ce", batch_sizes=(12,))
    model = Counting(case.model).train(training)
    x, y = case.batch
    x0, y0 = x.clone(), y.clone()
    params0 = [p.detach().clone() for p in model.parameters()]
    op = HessianOperator(model, case.loss_fn, (x, y))
    assert model.calls == 0                               # nothing computed in __init__
    v = randn(case.n, g=gen(8))
    v0 = v.clone()
    op @ v
    op @ randn(case.n, 3, g=gen(9))
    check = 2 if training else 0                          # in training mode, two forwards test for randomness
    assert model.calls == 1 + check                       # one graph, reused for every HVP
    assert model.training is training
    assert torch.equal(v, v0) and torch.equal(x, x0) and torch.equal(y, y0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params0))
    assert all(p.grad is None for p in model.parameters())
    op.release()
    op @ v
    assert model.calls == 2 + check                       # the randomness test is not repeated


def test_graph_rebuilt_after_in_place_update():
    case = make("mlp_tanh_ce", batch_sizes=(12,))
    op = HessianOperator(case.model, case.loss_fn, case.batch)
    v = randn(case.n, g=gen(10))
    before = op @ v
    with torch.no_grad():
        for p in case.model.parameters():
            p.mul_(1.5)
    after = op @ v
    assert rel(after, before) > 1e-3
    assert rel(after, reference_hessian(case) @ v) < 1e-10


def test_inputs_tuple_and_unflatten():
    case = make("mlp_tanh_ce", batch_sizes=(10,))

    class TwoInputs(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, a, b):
            return self.inner(a + b)

    x, y = case.batch
    model = TwoInputs(case.model)
    op = HessianOperator(model, case.loss_fn, ((x, torch.zeros_like(x)), y))
    v = randn(case.n, g=gen(11))
    assert rel(op @ v, reference_hessian(case) @ v) < 1e-10
    parts = op.unflatten(v)
    assert list(parts) == op.param_names
    assert torch.equal(torch.cat([t.reshape(-1) for t in parts.values()]), v)
    assert torch.equal(op.flat_params(), torch.cat([p.detach().reshape(-1) for p in model.parameters()]))


# ------------------------------------------------------------------ validation


def test_bad_vectors_raise():
    case = make("mlp_tanh_ce")
    op = HessianOperator(case.model, case.loss_fn, case.batches)
    with pytest.raises(ValueError, match="shape"):
        op @ torch.zeros(case.n + 1, dtype=DT)
    with pytest.raises(ValueError, match="shape"):
        op @ torch.zeros(case.n, 2, 2, dtype=DT)
    with pytest.raises(ValueError, match="dtype"):
        op @ torch.zeros(case.n, dtype=torch.float32)
    with pytest.raises(ValueError, match="torch.Tensor"):
        op @ [0.0] * case.n
    assert op.hvps == 0


def test_non_scalar_loss_raises():
    case = make("mlp_tanh_ce")

    def per_sample(out, y):
        return F.cross_entropy(out, y, reduction="none")

    op = HessianOperator(case.model, per_sample, case.batches, reduction="mean")   # lazy: no error yet
    with pytest.raises(ValueError, match="scalar"):
        op @ torch.zeros(case.n, dtype=DT)
    with pytest.raises(ValueError, match="scalar"):
        dense_hessian(case.model, per_sample, case.batches, reduction="mean")


def test_bad_parameters_raise():
    case = make("mlp_tanh_ce")
    with pytest.raises(ValueError, match="'nope' does not exist"):
        HessianOperator(case.model, case.loss_fn, case.batches, params=["0.weight", "nope"])
    with pytest.raises(ValueError, match="listed twice"):
        HessianOperator(case.model, case.loss_fn, case.batches, params=["0.weight", "0.weight"])
    op = HessianOperator(case.model, case.loss_fn, case.batches, params=["0.weight"])
    with pytest.raises(ValueError, match="'2.bias' does not exist"):
        op.block(["2.bias"])
    frozen = make("mlp_tanh_ce").model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        HessianOperator(frozen, case.loss_fn, case.batches)
    with pytest.raises(ValueError, match="does not require grad"):
        HessianOperator(frozen, case.loss_fn, case.batches, params=["0.weight"])
    with pytest.raises(ValueError, match="no trainable parameters"):
        HessianOperator(case.model, case.loss_fn, case.batches, params=[])


def test_bad_kind_data_and_max_dim_raise():
    case = make("mlp_tanh_ce")
    with pytest.raises(ValueError, match=r"Invalid kind: 'fisher' \(must be one of"):
        HessianOperator(case.model, case.loss_fn, case.batches, kind="fisher")
    with pytest.raises(ValueError, match=f"n={case.n} exceeds max_dim=10"):
        dense_hessian(case.model, case.loss_fn, case.batches, max_dim=10)
    with pytest.raises(ValueError, match="no batches"):
        HessianOperator(case.model, case.loss_fn, [])
    with pytest.raises(ValueError, match=r"\(inputs, targets\)"):
        HessianOperator(case.model, case.loss_fn, [case.batches[0][0]])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    case = make("cnn_ce")
    H = reference_hessian(case)
    model = case.model.to("cuda")
    batches = [(x.cuda(), y.cuda()) for x, y in case.batches]
    op = HessianOperator(model, case.loss_fn, batches)
    assert op.device.type == "cuda"
    V = randn(case.n, 3, g=gen(12))
    assert rel((op @ V.cuda()).cpu(), H @ V) < 1e-10
    cpu_batches_op = HessianOperator(model, case.loss_fn, case.batches)   # data moved to the model's device
    assert rel((cpu_batches_op @ V.cuda()).cpu(), H @ V) < 1e-10


@pytest.mark.parametrize("fused", [False, True])
def test_same_values_is_exact_on_both_paths(fused):
    """The kept graph's check: the per-tensor path (CPU) and the one-sync path (accelerators) agree."""
    from landscape.curvature.hvp import same_values

    a = [torch.randn(3, 4, generator=gen(1)), torch.randn(5, generator=gen(2)), torch.zeros(0)]
    saved = [t.clone() for t in a]
    assert same_values(a, saved, fused=fused)
    b = [t.clone() for t in a]
    b[1][4] = torch.nextafter(b[1][4], torch.tensor(float("inf")))        # one value, one ulp
    assert not same_values(b, saved, fused=fused)
    assert not same_values(a[:2], saved, fused=fused)                       # a tensor fewer
    assert not same_values([a[0].reshape(4, 3), a[1], a[2]], saved, fused=fused)   # same values, other shape
    nan = [torch.tensor([float("nan")])]
    assert not same_values(nan, [nan[0].clone()], fused=fused)             # NaN is never "unchanged": rebuild
    assert same_values([], [], fused=fused)


class _WithUnused(nn.Module):
    """A model with a parameter its forward never uses."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.unused = inner, nn.Linear(3, 2).to(DT)

    def forward(self, x):
        return self.inner(x)


def test_an_edit_through_data_is_seen_and_unused_parameters_read_zero(monkeypatch):
    """``.data`` edits bypass the version counter; the exact comparison sees them. A parameter that the loss
    does not use has zero rows in every product: the output block is not zero-filled first, so here it
    starts as NaN, and any entry the products do not write would show."""
    real = torch.empty_like
    monkeypatch.setattr(torch, "empty_like", lambda t, **kw: real(t, **kw).fill_(float("nan")))
    case = make("mlp_tanh_ce", batch_sizes=(12,))
    model = _WithUnused(case.model)
    op = HessianOperator(model, case.loss_fn, case.batch)
    n_used = case.n
    assert op.shape == (n_used + 8, n_used + 8)
    V = torch.randn(n_used + 8, 3, generator=gen(11), dtype=next(model.parameters()).dtype)
    V[n_used:] = float("nan")                    # the unused parameter's entries: never read
    ref = reference_hessian(case)
    first = op @ V
    assert torch.equal(first[n_used:], torch.zeros(8, 3, dtype=V.dtype))
    assert rel(first[:n_used], ref @ V[:n_used]) < 1e-10
    with torch.no_grad():
        for p in case.model.parameters():
            p.data.mul_(0.5)                     # no version bump
    after = op @ V
    assert rel(after[:n_used], first[:n_used]) > 1e-3
    assert rel(after[:n_used], reference_hessian(case) @ V[:n_used]) < 1e-10
