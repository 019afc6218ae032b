"""eigenvalues (thick-restart Lanczos) against torch.linalg.eigvalsh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cases import DT, gen, make, medium, randn, reference_hessian, single_thread  # noqa: F401
from landscape.curvature import HessianOperator, eigenvalues

pytestmark = pytest.mark.usefixtures("single_thread")


def expected(evals: torch.Tensor, k: int, which: str) -> torch.Tensor:
    if which == "largest":
        return evals.sort(descending=True).values[:k]
    if which == "smallest":
        return evals.sort().values[:k]
    return evals[evals.abs().argsort(descending=True)][:k]


def true_residuals(H: torch.Tensor, vals: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(H @ vecs - vecs * vals, dim=0) / vals.abs()


@pytest.mark.parametrize("name", ["mlp_tanh_ce", "mlp_sigmoid_mse", "cnn_ce"])
@pytest.mark.parametrize("which", ["largest", "smallest", "magnitude"])
def test_matches_eigvalsh_on_model_hessians(name, which):
    case = make(name)
    H = reference_hessian(case)
    op = HessianOperator(case.model, case.loss_fn, case.batches)
    res = eigenvalues(op, k=5, which=which, tol=1e-10)
    want = expected(torch.linalg.eigvalsh(H), 5, which)
    assert res.converged
    assert torch.allclose(res.values, want, rtol=1e-8, atol=0)
    assert res.hvps == op.hvps
    # reported residuals are the true ones, and small
    recomputed = true_residuals(H, res.values, res.vectors)
    assert torch.allclose(res.residuals, recomputed, rtol=1e-4, atol=1e-13)
    assert (recomputed <= 1e-10 * 1.0001).all()
    assert torch.allclose(res.vectors.T @ res.vectors, torch.eye(5, dtype=DT), atol=1e-10)


def test_diagonal_matrix_with_known_spectrum():
    n = 400
    d = torch.cat([torch.linspace(-1, 1, n - 6, dtype=DT), torch.tensor([-3.0, -2.5, 2.0, 3.0, 4.0, 5.0], dtype=DT)])
    D = torch.diag(d[torch.randperm(n, generator=gen(0))])
    for which, want in [("largest", [5.0, 4.0, 3.0, 2.0, 1.0]), ("smallest", [-3.0, -2.5, -1.0]),
                        ("magnitude", [5.0, 4.0, 3.0, -3.0, -2.5])]:
        res = eigenvalues(D, k=len(want), which=which, tol=1e-9)
        assert res.converged
        assert torch.allclose(res.values, torch.tensor(want, dtype=DT), rtol=1e-8, atol=1e-12)
        assert torch.allclose(res.residuals, true_residuals(D, res.values, res.vectors), rtol=1e-4, atol=1e-13)


def test_goe_matrix():
    n = 300
    A = randn(n, n, g=gen(1))
    A = (A + A.T) / (2 * n) ** 0.5                          # GOE, semicircle on [-2, 2]
    ev = torch.linalg.eigvalsh(A)
    for which in ("largest", "smallest", "magnitude"):
        res = eigenvalues(A, k=5, which=which, tol=1e-9, seed=3)
        assert res.converged, which
        assert torch.allclose(res.values, expected(ev, 5, which), rtol=1e-8, atol=0)
        assert (true_residuals(A, res.values, res.vectors) <= 1e-9).all()
    res = eigenvalues(A.numpy(), k=2)                          # numpy arrays are accepted too
    assert np.allclose(res.values.numpy(), ev.flip(0)[:2].numpy(), rtol=1e-8)


def test_block_lanczos_finds_a_repeated_eigenvalue():
    d = torch.cat([torch.linspace(0, 1, 196, dtype=DT), torch.tensor([3.0, 5.0, 5.0, 5.0], dtype=DT)])
    D = torch.diag(d)
    res = eigenvalues(D, k=4, block_size=3, tol=1e-10)
    assert res.converged
    assert torch.allclose(res.values, torch.tensor([5.0, 5.0, 5.0, 3.0], dtype=DT), rtol=1e-9)
    assert res.hvps % 3 == 0


def test_invariant_start_subspace_and_zero_operator():
    d = torch.linspace(1, 2, 100, dtype=DT)
    D = torch.diag(d)
    e = torch.zeros(100, dtype=DT)
    e[3] = 1.0                                                  # an eigenvector: Krylov space of dimension 1
    res = eigenvalues(D, k=3, v0=e, tol=1e-10)
    assert res.converged
    assert torch.allclose(res.values, d.flip(0)[:3], rtol=1e-9)
    zero = eigenvalues(torch.zeros(60, 60, dtype=DT), k=2)
    assert zero.converged and torch.equal(zero.values, torch.zeros(2, dtype=DT))
    assert torch.isfinite(zero.vectors).all()


def test_medium_mlp_top10_within_150_hvps():
    case, H, ev = medium()
    op = HessianOperator(case.model, case.loss_fn, case.batch)
    top10 = eigenvalues(op, k=10)
    assert top10.converged and top10.hvps <= 150
    assert torch.allclose(top10.values, ev.flip(0)[:10], rtol=1e-8)
    assert (true_residuals(H, top10.values, top10.vectors) <= 1e-6).all()
    top5 = eigenvalues(op, k=5, seed=1)
    assert top5.converged and top5.hvps <= 60                   # deflated power iteration needs hundreds
    assert torch.allclose(top5.values, ev.flip(0)[:5], rtol=1e-8)


def test_budget_exhaustion_is_reported():
    case, H, ev = medium()
    op = HessianOperator(case.model, case.loss_fn, case.batch)
    res = eigenvalues(op, k=3, which="smallest", max_hvps=12)
    assert not res.converged and res.hvps <= 12
    recomputed = true_residuals(H, res.values, res.vectors)
    assert torch.allclose(res.residuals, recomputed, rtol=1e-4)
    assert recomputed.max() > 1e-6


def test_float32_tolerance_floor():
    A = torch.diag(torch.linspace(1, 2, 100))
    res = eigenvalues(A, k=1, tol=1e-9)
    assert res.tol == pytest.approx(100 * torch.finfo(torch.float32).eps)
    assert res.converged and res.values.dtype == torch.float32
    assert abs(res.values[0].item() - 2.0) < 1e-5


class NoisyOperator:
    """A dense symmetric matrix whose products carry rounding-like noise of relative size ``level``."""

    def __init__(self, A: torch.Tensor, level: float, seed: int = 0):
        self.A, self.level, self.g = A, level, gen(seed)
        self.shape, self.dtype, self.device = A.shape, A.dtype, A.device
        self.scale = float(torch.linalg.matrix_norm(A, 2))

    def __matmul__(self, V):
        return self.A @ V + self.level * self.scale * randn(*V.shape, g=self.g).to(V.dtype)


def test_stalled_residuals_stop_early_and_say_so():
    """float32 products with noise of relative size 1e-5: the relative residual of the
    eigenvalue 30 cannot go below ~1e-5 * 50 / 30, above the float32 floor 100 eps = 1.2e-5."""
    evals = torch.cat([torch.tensor([50.0, 40.0, 30.0], dtype=DT), torch.linspace(-1, 1, 397, dtype=DT)])
    Q, _ = torch.linalg.qr(randn(400, 400, g=gen(8)))
    A = (Q @ torch.diag(evals) @ Q.T).float()
    A = (A + A.T) / 2
    noisy = eigenvalues(NoisyOperator(A, 1e-5), k=3, tol=1e-6, max_hvps=2000)
    assert noisy.stalled and not noisy.converged
    assert noisy.hvps < 300                                        # not the whole budget
    assert torch.allclose(noisy.values, evals[:3].float(), rtol=1e-4)   # what it reached is still good
    assert float(noisy.residuals.max()) > noisy.tol
    assert "stalled=True" in repr(noisy)
    clean = eigenvalues(A, k=3, tol=1e-6, max_hvps=2000)
    assert clean.converged and not clean.stalled


def test_bad_arguments_raise():
    A = torch.eye(30, dtype=DT)
    with pytest.raises(ValueError, match="k=31 exceeds the operator dimension n=30"):
        eigenvalues(A, k=31)
    with pytest.raises(ValueError, match=r"Invalid which: 'top' \(must be one of"):
        eigenvalues(A, which="top")
    with pytest.raises(ValueError, match=r"Invalid k: 0 \(must be an integer >= 1\)"):
        eigenvalues(A, k=0)
    with pytest.raises(ValueError, match="tol"):
        eigenvalues(A, tol=-1.0)
    with pytest.raises(ValueError, match="square"):
        eigenvalues(torch.zeros(3, 4, dtype=DT))
    with pytest.raises(ValueError, match="v0"):
        eigenvalues(torch.eye(100, dtype=DT), v0=torch.ones(7, dtype=DT))


class SyncCounter:
    """Counts tensor -> host conversions (what would synchronize a CUDA device)."""

    METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")

    def __init__(self, monkeypatch):
        self.calls = 0
        for name in self.METHODS:
            original = getattr(torch.Tensor, name)

            def wrapped(self_, *args, _original=original, **kwargs):
                self.calls += 1
                return _original(self_, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, wrapped)


def test_host_syncs_only_at_checks(monkeypatch):
    from landscape.curvature import _utils, spectral_density, trace

    # the path of a CUDA device: no value is read back to decide on a second Gram-Schmidt pass
    monkeypatch.setattr(_utils, "HOST_TEST_DEVICES", ())
    case, H, ev = medium()
    op = HessianOperator(case.model, case.loss_fn, case.batch)
    op @ torch.zeros(op.shape[0], dtype=DT)                      # build the graph outside the count
    counter = SyncCounter(monkeypatch)
    res = eigenvalues(op, k=5, check_every=8, ncv=40)
    checks = res.hvps // 8 + res.restarts + 2
    assert res.converged
    assert counter.calls <= 3 * checks + 5                        # a few per check, none per HVP
    assert counter.calls < res.hvps
    counter.calls = 0
    spectral_density(op, num_probes=4, num_steps=40)
    few = counter.calls
    counter.calls = 0
    spectral_density(op, num_probes=4, num_steps=80)
    assert counter.calls == few                                   # independent of the number of steps
    counter.calls = 0
    trace(op, num_matvecs=30)
    small = counter.calls
    counter.calls = 0
    trace(op, num_matvecs=90)
    assert counter.calls == small


def test_second_gram_schmidt_pass_on_demand_equals_always(monkeypatch):
    """The CPU path (a second Gram-Schmidt pass only on the DGKS test) and the path of devices where that
    test would sync (always two passes) give the same eigenpairs and densities, both exact."""
    from landscape.curvature import _utils, spectral_density

    case, H, ev = medium()
    op = HessianOperator(case.model, case.loss_fn, case.batch)
    runs = {}
    for name, devices in (("on demand", ("cpu",)), ("always", ())):
        monkeypatch.setattr(_utils, "HOST_TEST_DEVICES", devices)
        runs[name] = (eigenvalues(op, k=6, tol=1e-10, ncv=16, seed=2),           # restarts: the second pass is due
                      spectral_density(op, num_probes=2, num_steps=30, seed=0))
    (a, da), (b, db) = runs["on demand"], runs["always"]
    assert a.converged and b.converged and a.restarts > 0 and a.hvps == b.hvps
    want = ev.flip(0)[:6]
    assert torch.allclose(a.values, want, rtol=1e-10) and torch.allclose(b.values, want, rtol=1e-10)
    assert (true_residuals(H, a.values, a.vectors) <= 1e-10 * 1.0001).all()
    assert torch.allclose(a.vectors.T @ a.vectors, torch.eye(6, dtype=DT), atol=1e-12)
    assert torch.allclose(da.nodes, db.nodes, rtol=1e-9, atol=1e-12)
    assert torch.allclose(da.weights, db.weights, atol=1e-10)
