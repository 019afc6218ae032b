"""Quick CPU measurement of the curvature toolkit on an MLP 784-256-256-10.

2048 random-normal inputs, random labels, cross-entropy, default PyTorch init.
Reports the time of one gradient, of one HVP with the gradient graph kept, and the
HVP count and wall time of the top-1 / top-5 (and top-10) eigenvalues at tol 1e-6.

Usage::

    python bench/curvature_quick.py [--dtype float32|float64] [--threads N] [--power]

``--power`` also runs a deflated power iteration for the top-5 (stopping on the same
relative residual as Lanczos used) to compare HVP counts.  Float32 cannot reach a
relative residual of 1e-6 (rounding in the HVPs); ``eigenvalues`` then uses its floor
``100 eps = 1.2e-5`` and prints it.  On a shared machine timings vary; medians of 5
repeats are shown for the gradient and the HVP.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from landscape.curvature import HessianOperator, eigenvalues


def build(dtype: torch.dtype, n: int = 2048, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # only for nn.Linear's default init; restored below
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).to(dtype)
    torch.random.set_rng_state(torch_state)
    x = torch.randn(n, 784, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randint(0, 10, (n,), generator=gen)
    return model, x, y


def timed(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def power_top(op, k: int, tol: float, max_hvps: int = 5000, seed: int = 0):
    """Deflated power iteration (the baseline): one pair at a time, stop on ||Hv - lv|| <= tol |l|."""
    gen = torch.Generator().manual_seed(seed)
    n = op.shape[0]
    found_v, found_l, hvps = [], [], 0
    for _ in range(k):
        v = torch.randn(n, generator=gen, dtype=torch.float64).to(op.dtype)
        v /= v.norm()
        while hvps < max_hvps:
            hv = op @ v
            hvps += 1
            for u, lam in zip(found_v, found_l):
                hv -= lam * (u @ v) * u
            lam = v @ hv
            if (hv - lam * v).norm() <= tol * lam.abs():
                break
            v = hv / hv.norm()
        found_v.append(v)
        found_l.append(lam)
    return torch.stack(found_l), hvps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--power", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model, x, y = build(dtype)
    loss_fn = nn.functional.cross_entropy
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    print(f"MLP 784-256-256-10, n={n} parameters, 2048 samples, {args.dtype}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    def gradient():
        return torch.autograd.grad(loss_fn(model(x), y), params)

    t_grad = timed(gradient)
    op = HessianOperator(model, loss_fn, (x, y))
    v = torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)
    t0 = time.perf_counter()
    op @ v                                   # builds and keeps the gradient graph
    t_first = time.perf_counter() - t0
    t_hvp = timed(lambda: op @ v)
    print(f"gradient:             {t_grad * 1e3:8.1f} ms")
    print(f"first HVP (+graph):   {t_first * 1e3:8.1f} ms")
    print(f"HVP (graph kept):     {t_hvp * 1e3:8.1f} ms   ({t_hvp / t_grad:.2f}x a gradient)")
    used_tol = args.tol
    for k in (1, 5, 10):
        t0 = time.perf_counter()
        res = eigenvalues(op, k=k, tol=args.tol)
        used_tol = res.tol
        dt = time.perf_counter() - t0
        vals = ", ".join(f"{v:.5g}" for v in res.values.tolist())
        print(f"top-{k:<2d}: {res.hvps:4d} HVPs, {dt:6.2f} s, converged={res.converged}, "
              f"max rel. residual {res.residuals.max().item():.1e}, tol used {res.tol:.1e}: [{vals}]")
    if args.power:
        t0 = time.perf_counter()
        vals, hvps = power_top(op, 5, used_tol)
        print(f"deflated power top-5: {hvps} HVPs, {time.perf_counter() - t0:.2f} s: "
              f"[{', '.join(f'{v:.5g}' for v in vals.tolist())}]")


if __name__ == "__main__":
    main()
