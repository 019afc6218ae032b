r"""The curvature toolkit's GPU path, measured (issue 21, item 3): ``bench/results-gpu.json``.

Run on a machine with a GPU (``python bench/gpu.py``; ``bench/device.sh`` is the one
prepared command for the lent GPU machine).  On the CPU, ``--device cpu --quick`` runs
every section on small batches: that is how the script is tested, not a figure to read.

Three networks, each one batch on the device, its Hessian that of the mean cross-entropy:

* ``mlp``, ``cnn``: the CPU benchmark's networks (``bench/problems.py``: the MLP
  784-256-256-10 on 2048 MNIST-10k images, the LeNet-5-style CNN on 1024), trained on the
  CPU with the same seeds and then moved, so the figures sit beside ``bench/results.json``;
* ``resnet18``: torchvision's ResNet-18 (10 classes, eval mode) on random 32x32x3 images
  with random labels (``--resnet-images``; random data is fine for timing).

Sections, per network (every timing a median of round-robin repeats, each one
synchronized: the clock stops when the kernels have run):

1. ``hvp_cost``: one gradient; one HVP with the graph rebuilt and with it kept (ours), and
   PyHessian's HVP on its kept graph where it imports; each as a multiple of the gradient.
2. ``blocks``: the per-column cost of a block of ``k`` products (k = 1, 4, 16) on one kept
   graph of plain PyTorch: ``k`` single ``torch.autograd.grad`` calls against one call with
   ``is_grads_batched=True`` (vmap over the columns), and our operator's ``op @ V``; the
   batched block's largest relative difference to the single columns. ``pays``: the
   batched per-column time is below the single one.
3. ``top5``: the top-5 eigenvalues to relative accuracy ``--acc`` against a float64
   reference (our Lanczos, tol 1e-9): ours (residual-certified, ``tol = acc``) over
   ``--repeats`` seeds, PyHessian's deflated power iteration at the loosest of its
   tolerances that reaches the accuracy; HVPs, seconds, and ours' time outside products.
4. ``slq``: our SLQ density (``--slq-probes`` x ``--slq-steps``) and PyHessian's
   ``density()`` (it calls the removed ``torch.eig``: its failure is recorded as it is).
5. ``dataconv`` (networks with convolutions): the HVP with the data-convolution reroute
   (:mod:`landscape.curvature.dataconv`) on and off (off: PyTorch's own double backward),
   graph kept and rebuilt, and the products' relative difference.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import measure  # noqa: E402
import peers  # noqa: E402
import problems  # noqa: E402
from run import hvp_cost, log, med, rel_err  # noqa: E402  (the CPU benchmark's)

from landscape.curvature import HessianOperator, eigenvalues, spectral_density  # noqa: E402
from landscape.curvature import batches as _batches  # noqa: E402

OUT = Path(__file__).resolve().parent / "results-gpu.json"
NETWORKS = ("mlp", "cnn", "resnet18")


def device_name(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU's model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({measure._cpu_model()})"


# --------------------------------------------------------------------------- the networks
def resnet18_problem(n: int, *, seed: int = 0) -> problems.Problem:
    """torchvision's ResNet-18 (10 classes, eval mode) on ``n`` random 32x32x3 images and labels."""
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    return problems.Problem("resnet18", f"ResNet-18 (torchvision, 10 classes, eval mode), {n} random 32x32 images",
                            model, (x, y), info={"data": "random", "images": n})


def build(name: str, a) -> problems.Problem:
    if name == "mlp":
        p = problems.mlp_problem(n=a.mlp_images)
    elif name == "cnn":
        p = problems.cnn_problem(n=a.cnn_images)
    elif name == "resnet18":
        p = resnet18_problem(a.resnet_images)
    else:
        raise ValueError(f"Invalid network: {name!r} (must be one of {', '.join(NETWORKS)})")
    p.model.to(a.device)
    p.batch = tuple(t.to(a.device) for t in p.batch)
    return p


def _params(model) -> list[torch.Tensor]:
    return [q for q in model.parameters() if q.requires_grad]


def _pieces(col: torch.Tensor, params: list[torch.Tensor], batched: bool = False) -> list[torch.Tensor]:
    """``col`` (n,) or (k, n) cut into per-parameter tensors (leading k kept when ``batched``)."""
    sizes = [q.numel() for q in params]
    if batched:
        return [c.reshape(col.shape[0], *q.shape) for c, q in zip(torch.split(col, sizes, dim=1), params)]
    return [c.reshape(q.shape) for c, q in zip(torch.split(col, sizes), params)]


# --------------------------------------------------------------------------- 1. HVP / gradient
def hvp_section(p: problems.Problem, a) -> dict:
    log(f"[{p.name}] 1. one HVP against one gradient")
    return hvp_cost(p, a.hvp_repeats, a.device)


# --------------------------------------------------------------------------- 2. block products
def blocks_section(p: problems.Problem, a) -> dict:
    log(f"[{p.name}] 2. block products: single columns against is_grads_batched")
    model, (x, y), lf = p.model, p.batch, p.loss_fn
    params = _params(model)
    grads = torch.autograd.grad(lf(model(x), y), params, create_graph=True)
    op = HessianOperator(model, lf, (x, y))
    out = {}
    for k in a.block_sizes:
        V = torch.randn(k, p.n_params, generator=torch.Generator().manual_seed(100 + k)).to(a.device)

        def single():
            return [torch.autograd.grad(grads, params, grad_outputs=_pieces(V[c], params), retain_graph=True)
                    for c in range(k)]

        def batched():
            return torch.autograd.grad(grads, params, grad_outputs=_pieces(V, params, batched=True),
                                       retain_graph=True, is_grads_batched=True)

        fns = {"single": single, "batched": batched, "ours (op @ V)": lambda: op @ V.T}
        row: dict = {}
        try:
            want = torch.stack([torch.cat([t.reshape(-1) for t in cols]) for cols in single()])
            got = torch.cat([t.reshape(k, -1) for t in batched()], dim=1)
            row["batched_rel_difference"] = float((got - want).norm() / want.norm())
        except RuntimeError as exc:  # vmap cannot batch some backward of this network
            row["batched_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            fns.pop("batched")
        times = measure.interleaved(fns, a.block_repeats, device=a.device)
        row["per_column_seconds"] = {name: t["median"] / k for name, t in times.items()}
        per = row["per_column_seconds"]
        row["pays"] = bool("batched" in per and per["batched"] < per["single"])
        out[str(k)] = row
        log(f"  k={k:<3} per column: " + ", ".join(f"{n} {s * 1e3:.2f} ms" for n, s in per.items())
            + (f"; batched differs by {row['batched_rel_difference']:.1e}" if "batched_rel_difference" in row
               else f"; batched FAILED: {row['batched_error']}"))
    op.release()
    return out


# --------------------------------------------------------------------------- 3. top-5
def reference(p: problems.Problem, a) -> dict:
    model64 = copy.deepcopy(p.model).double()
    x, y = p.batch
    op = HessianOperator(model64, p.loss_fn, (x.double(), y))
    res, sec = measure.timed(lambda: eigenvalues(op, k=6, tol=a.ref_tol, seed=12345, max_hvps=a.ref_hvps), a.device)
    op.release()
    del model64
    log(f"  reference (float64, tol {a.ref_tol:g}): {', '.join(f'{v:.7g}' for v in res.values.tolist()[:5])}; {res.hvps} HVPs, "
        f"{sec:.1f} s, converged={res.converged}")
    return {"values": res.values.tolist(), "hvps": res.hvps, "seconds": sec, "converged": bool(res.converged),
            "tol": a.ref_tol}


def top5_section(p: problems.Problem, a) -> dict:
    log(f"[{p.name}] 3. top-5 eigenvalues to relative accuracy {a.acc:g}")
    ref = reference(p, a)
    runs = []
    for s in range(a.repeats):
        op = measure.TimedOperator(HessianOperator(p.model, p.loss_fn, p.batch), synchronize=True)
        res, sec = measure.timed(lambda: eigenvalues(op, k=5, tol=a.acc, seed=s), a.device)
        op.release()
        runs.append({"values": res.values.tolist(), "hvps": res.hvps, "seconds": sec, "product_seconds": op.seconds,
                     "rel_err": rel_err(res.values.tolist(), ref["values"]), "converged": bool(res.converged)})
    ours = {"hvps": med([r["hvps"] for r in runs]), "seconds": med([r["seconds"] for r in runs]),
            "rel_err": med([r["rel_err"] for r in runs]),
            "outside_vs_products": med([(r["seconds"] - r["product_seconds"]) / r["product_seconds"] for r in runs]),
            "runs": runs}
    log(f"  ours: {ours['hvps']:.0f} HVPs, {ours['seconds']:.3f} s, rel.err {ours['rel_err']:.1e}, outside products "
        f"{100 * ours['outside_vs_products']:.1f} % of the time in them")
    out = {"reference": ref, "ours": ours}
    if peers.available()["pyhessian"]:
        sweep, chosen = [], None
        for tol in a.pyhessian_tols:
            r = peers.pyhessian_top(p.model, p.loss_fn, p.batch, k=5, tol=tol, seed=0)
            r["rel_err"] = rel_err(r["values"], ref["values"])
            sweep.append({"tol": tol, "hvps": r["hvps"], "seconds": r["seconds"], "rel_err": r["rel_err"]})
            log(f"  PyHessian tol {tol:g}: {r['hvps']} HVPs, {r['seconds']:.3f} s, rel.err {r['rel_err']:.1e}")
            if r["rel_err"] <= a.acc:
                chosen = {"tol": tol, **{k: r[k] for k in ("hvps", "seconds", "rel_err")}}
                break
        out["pyhessian"] = {"sweep": sweep, "chosen": chosen, "reaches_acc": chosen is not None}
        if chosen is not None:
            out["pyhessian_time_vs_ours"] = chosen["seconds"] / ours["seconds"]
            log(f"  PyHessian / ours: {out['pyhessian_time_vs_ours']:.1f}x the time")
    return out


# --------------------------------------------------------------------------- 4. SLQ
def slq_section(p: problems.Problem, a) -> dict:
    log(f"[{p.name}] 4. spectral density (SLQ, {a.slq_probes} probes x {a.slq_steps} steps)")
    runs = []
    for s in range(a.repeats):
        op = measure.TimedOperator(HessianOperator(p.model, p.loss_fn, p.batch), synchronize=True)
        r, sec = measure.timed(lambda: spectral_density(op, num_probes=a.slq_probes, num_steps=a.slq_steps, seed=s),
                               a.device)
        op.release()
        runs.append({"hvps": r.hvps, "seconds": sec, "product_seconds": op.seconds, "support": list(map(float, r.support))})
    out = {"ours": {"hvps": med([r["hvps"] for r in runs]), "seconds": med([r["seconds"] for r in runs]),
                    "outside_vs_products": med([(r["seconds"] - r["product_seconds"]) / r["product_seconds"] for r in runs]),
                    "runs": runs}}
    log(f"  ours: {out['ours']['hvps']:.0f} HVPs, {out['ours']['seconds']:.3f} s")
    if peers.available()["pyhessian"]:
        t0 = time.perf_counter()
        out["pyhessian_density"] = peers.pyhessian_density(p.model, p.loss_fn, p.batch, iters=a.slq_steps,
                                                           n_v=a.slq_probes)
        measure.sync(a.device)
        out["pyhessian_density"]["seconds"] = time.perf_counter() - t0
        d = out["pyhessian_density"]
        log(f"  PyHessian density(): {'ran in %.3f s' % d['seconds'] if d['ok'] else 'FAILED: ' + str(d['error'])}")
    return out


# --------------------------------------------------------------------------- 5. data convolutions
@contextlib.contextmanager
def reroute(on: bool):
    """The data-convolution reroute on (the library's default) or off (PyTorch's own double backward)."""
    saved = _batches.lean_data_convs
    if not on:
        _batches.lean_data_convs = contextlib.nullcontext
    try:
        yield
    finally:
        _batches.lean_data_convs = saved


def dataconv_section(p: problems.Problem, a) -> dict:
    log(f"[{p.name}] 5. data-convolution reroute on and off")
    v = torch.randn(p.n_params, generator=torch.Generator().manual_seed(7)).to(a.device)
    fns, products, ops = {}, {}, []
    for on in (True, False):
        name = "on" if on else "off"
        with reroute(on):
            op_k, op_f = HessianOperator(p.model, p.loss_fn, p.batch), HessianOperator(p.model, p.loss_fn, p.batch)
            products[name] = op_k @ v
        ops += [op_k, op_f]

        def kept(op=op_k, on=on):
            with reroute(on):
                return op @ v

        def rebuilt(op=op_f, on=on):
            with reroute(on):
                op.release()
                return op @ v

        fns[f"reroute {name}, graph kept"] = kept
        fns[f"reroute {name}, graph rebuilt"] = rebuilt
    times = measure.interleaved(fns, a.hvp_repeats, device=a.device)
    for op in ops:
        op.release()
    sec = {k: t["median"] for k, t in times.items()}
    diff = float((products["on"] - products["off"]).norm() / products["off"].norm())
    for k, s in sec.items():
        log(f"  {k:<28} {s * 1e3:9.2f} ms")
    log(f"  products on vs off differ by {diff:.1e} (relative)")
    return {"seconds": sec, "off_over_on": {g: sec[f"reroute off, graph {g}"] / sec[f"reroute on, graph {g}"]
                                            for g in ("kept", "rebuilt")},
            "rel_difference": diff}


def _has_conv(model) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small batches and few repeats (to test the script on a CPU)")
    ap.add_argument("--only", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    ap.add_argument("--acc", type=float, default=1e-4)
    ap.add_argument("--resnet-images", type=int, default=None, help="ResNet-18 batch (default 256; --quick 4)")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    a.device = torch.device(a.device)
    if a.device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"Invalid --device: {a.device} (no CUDA device here; use --device cpu)")
    q = a.quick
    a.mlp_images, a.cnn_images = (256, 128) if q else (2048, 1024)
    a.resnet_images = a.resnet_images or (4 if q else 256)
    a.repeats, a.hvp_repeats, a.block_repeats = (1, 2, 1) if q else (3, 9, 5)
    a.block_sizes = (1, 4) if q else (1, 4, 16)
    a.ref_hvps, a.ref_tol = (120, 1e-7) if q else (400, 1e-9)
    a.pyhessian_tols = [1e-3, 1e-4] if q else [1e-3, 1e-4, 1e-5, 1e-6]
    a.slq_probes, a.slq_steps = (1, 10) if q else (2, 30)
    for msg in (".*create_graph=True will create a reference cycle.*", ".*Full backward hook is firing.*",
                ".*torch.jit.script.*"):
        warnings.filterwarnings("ignore", message=msg)
    t_start = time.perf_counter()
    meta = measure.machine_info()
    meta.update(device=str(a.device), device_name=device_name(a.device), quick=q,
                cuda=torch.version.cuda if a.device.type == "cuda" else None, peers=peers.versions(),
                command=" ".join(["python bench/gpu.py", *(argv if argv is not None else sys.argv[1:])]))
    log(f"GPU path benchmark on {meta['device_name']} ({a.device}), torch {meta['torch']}; peers {meta['peers']}")
    config = {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, (Path, torch.device)) else v)
              for k, v in vars(a).items() if k != "out"}
    nets: dict = {}

    def write(complete: bool) -> None:
        """The JSON so far (after every network: a run stopped by its time limit keeps what it measured)."""
        meta["seconds"] = time.perf_counter() - t_start
        meta["complete"] = complete
        if a.device.type == "cuda":
            meta["max_memory_allocated_gib"] = torch.cuda.max_memory_allocated(a.device) / 2**30
        tmp = a.out.with_name(a.out.name + ".tmp")
        tmp.write_text(json.dumps({"meta": {**meta, "config": config}, "problems": nets}, indent=1))
        tmp.replace(a.out)

    for name in a.only:
        p = build(name, a)
        log(f"\n=== {p.label}: {p.n_params:,} parameters")
        d = {"label": p.label, "n_params": p.n_params, "training": p.info}
        d["hvp_cost"] = hvp_section(p, a)
        d["blocks"] = blocks_section(p, a)
        d["top5"] = top5_section(p, a)
        d["slq"] = slq_section(p, a)
        if _has_conv(p.model):
            d["dataconv"] = dataconv_section(p, a)
        nets[name] = d
        write(complete=False)
        del p
        if a.device.type == "cuda":
            torch.cuda.empty_cache()
    write(complete=True)
    log(f"\nwrote {a.out} ({meta['seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
