"""The toolkit chapter's comparison with the peer libraries: ``bench/results.json``
(written by ``make bench``), or a small live comparison when the peers import and
there is no JSON."""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ...curvature import HessianOperator, eigenvalues
from ...experiment.records import REPO_ROOT as _REPO
from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles
from .experiments import Results, rebuild

__all__ = ["BENCH_JSON", "DISTRIBUTED_JSON", "GPU_JSON", "distributed_table", "gpu_tables", "View", "view", "bench_results", "bench_provenance", "bench_tables", "bench_hvp_table",
           "plot_bench", "peers_available", "live_comparison"]

BENCH_JSON = _REPO / "bench" / "results.json"
#: ``python bench/distributed.py``: one block of products on 1 process against 2 ranks
DISTRIBUTED_JSON = _REPO / "bench" / "results-distributed.json"
#: ``python bench/gpu.py`` on a GPU (``bench/device.sh``): the GPU path of issue 21, item 3
GPU_JSON = _REPO / "bench" / "results-gpu.json"


def bench_results(path: str | Path | None = None) -> dict | None:
    """The benchmark's JSON (``bench/results.json``), or None when absent or unreadable."""
    path = Path(path) if path is not None else BENCH_JSON
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def distributed_table(path: str | Path | None = None) -> tuple[str, pd.DataFrame | None]:
    """``(caption, table)`` of ``bench/results-distributed.json``: the seconds of one block ``op @ V`` on one
    process and on two ranks, their ratio and the largest difference of the products; the table is None (and
    the caption says how to make it) when the file is absent or unreadable."""
    res = bench_results(path if path is not None else DISTRIBUTED_JSON)
    if res is None:
        return ("*No `bench/results-distributed.json`: `python bench/distributed.py` measures one block of "
                "products on one process against two ranks.*", None)
    m = res.get("meta", {})
    two = f"2 {res['backend']} ranks"
    df = pd.DataFrame({"processes": ["1 process", two],
                       "examples per process": [res["examples"], res["examples"] // 2],
                       f"seconds per block (k = {res['k']}, median)": [res["one_process_s"], res["two_ranks_s"]],
                       "time / 1 process": [1.0, res["ratio"]],
                       "max rel. difference to 1 process": [0.0, res["max_rel_difference"]]})
    df.attrs["formats"] = {f"seconds per block (k = {res['k']}, median)": "{:.4f}", "time / 1 process": "{:.2f}",
                           "max rel. difference to 1 process": "{:.1e}"}
    caption = (f"**Across processes.** One block of {res['k']} Hessian-vector products of the MLP 784-256-256-10 "
               f"({res['n_params']:,} parameters) over {res['examples']} examples, on one process and split over "
               f"{two} (one all-reduce per block), by `{m.get('command', 'python bench/distributed.py')}` on "
               f"{m.get('host_cpu', '?')} ({m.get('cpu_count', '?')} cores, load average {m.get('load_average_start', '?')} "
               f"at the start, torch {m.get('torch', '?')}), {m.get('date', '?')}, commit `{m.get('commit', '?')}`. "
               + ("On this CPU two ranks share its cores with everything else: the figure is for honesty, not a "
                  "speed-up." if res["backend"] == "gloo" else "Each rank on its own GPU: the scaling figure."))
    return caption, df


def gpu_tables(path: str | Path | None = None, cpu: dict | None = None) -> tuple[str, list[tuple[str, pd.DataFrame]]]:
    """``(caption, [(caption, table), ...])`` of ``bench/results-gpu.json`` (``python bench/gpu.py``): one HVP
    against one gradient, the per-column cost of block products (single against ``is_grads_batched``), top-5
    and SLQ against PyHessian, and the data-convolution reroute on and off, with the device named. ``cpu``
    (``bench/results.json``) puts the CPU's HVP figures beside the GPU's. No tables (and a caption that says
    how to make them) when the file is absent or unreadable."""
    res = bench_results(path if path is not None else GPU_JSON)
    if res is None:
        return ("*No GPU figures are recorded (`bench/results-gpu.json`): no GPU was lent to the sessions that "
                "built this page. On a machine with one, `python bench/gpu.py` measures the GPU path (one HVP "
                "against one gradient, block products, top-5 and SLQ against PyHessian, the data-convolution "
                "reroute) on the benchmark's networks and a ResNet-18, and this section shows it.*", [])
    m, nets = res.get("meta", {}), res.get("problems", {})
    where = f"**{m.get('device_name', m.get('device', '?'))}**"
    caption = (f"**The GPU path.** Measured on {where} by `{m.get('command', 'python bench/gpu.py')}` (torch "
               f"{m.get('torch', '?')}, CUDA {m.get('cuda') or '-'}), {m.get('date', '?')}, commit `{m.get('commit', '?')}`, "
               f"{m.get('seconds', float('nan')):.0f} s in all; every timing a median of synchronized repeats. Networks: "
               + "; ".join(f"{name}: {d['label']} ({d['n_params']:,} parameters)" for name, d in nets.items()) + "."
               + (" *A quick run (`--quick`): small batches and few repeats, to test the script, not figures to "
                  "weigh.*" if m.get("quick") else "")
               + (" The run stopped at its time limit: the networks above are those it finished." if m.get("complete") is False
                  else ""))
    tables = []
    hvp = bench_hvp_table(res)
    if len(hvp):
        hvp.insert(0, "device", m.get("device_name", m.get("device", "?")))
        if cpu is not None:
            c = bench_hvp_table(cpu)
            c = c[c["network"].isin(list(nets))]
            c.insert(0, "device", f"CPU ({(cpu.get('meta') or {}).get('host_cpu', '?')})")
            hvp = pd.concat([c, hvp], ignore_index=True)
        hvp.attrs["formats"] = {"ms (median)": "{:.3f}", "/ gradient": "{:.2f}"}
        tables.append(("**One HVP against one gradient**, graph rebuilt and kept" + (", the CPU's figures "
                       "(`bench/results.json`) above the GPU's" if cpu is not None else "") + ".", hvp))
    rows = []
    for name, d in nets.items():
        for k, b in (d.get("blocks") or {}).items():
            per = b["per_column_seconds"]
            rows.append({"network": name, "k": int(k), "single, ms per column": 1e3 * per["single"],
                         "is_grads_batched, ms per column": 1e3 * per["batched"] if "batched" in per else float("nan"),
                         "ours (op @ V), ms per column": 1e3 * per["ours (op @ V)"],
                         "batched / single": per["batched"] / per["single"] if "batched" in per else float("nan"),
                         "batched pays": "yes" if b["pays"] else "no" if "batched" in per else "failed: " + b["batched_error"]})
    if rows:
        df = pd.DataFrame(rows)
        df.attrs["formats"] = {c: "{:.3f}" for c in df.columns if "ms" in c} | {"batched / single": "{:.2f}"}
        tables.append(("**Block products.** Per column, a block of k products on one kept graph: k single "
                       "`torch.autograd.grad` calls against one call with `is_grads_batched=True`, and our operator's "
                       "`op @ V`.", df))
    rows = []
    for name, d in nets.items():
        t5, slq = d.get("top5"), d.get("slq")
        if t5:
            o = t5["ours"]
            rows.append({"network": name, "task": "top-5", "method": "landscape Lanczos (certified)", "HVPs": o["hvps"],
                         "seconds": o["seconds"], "rel. error": o["rel_err"], "time / ours": 1.0,
                         "outside products / in them": o["outside_vs_products"]})
            ph = t5.get("pyhessian")
            if ph:
                c = ph["chosen"] or ph["sweep"][-1]
                rows.append({"network": name, "task": "top-5", "method": f"PyHessian power iteration (tol {c['tol']:g}"
                             + ("" if ph["reaches_acc"] else ", did not reach the accuracy") + ")", "HVPs": c["hvps"],
                             "seconds": c["seconds"], "rel. error": c["rel_err"], "time / ours": c["seconds"] / o["seconds"],
                             "outside products / in them": float("nan")})
        if slq:
            o = slq["ours"]
            rows.append({"network": name, "task": "density", "method": "landscape SLQ", "HVPs": o["hvps"],
                         "seconds": o["seconds"], "rel. error": float("nan"), "time / ours": 1.0,
                         "outside products / in them": o["outside_vs_products"]})
            pd_ = slq.get("pyhessian_density")
            if pd_:
                rows.append({"network": name, "task": "density", "method": "PyHessian density()" + (
                    "" if pd_["ok"] else f" failed: {str(pd_['error']).splitlines()[0][:90]}"), "HVPs": float("nan"),
                    "seconds": pd_["seconds"] if pd_["ok"] else float("nan"), "rel. error": float("nan"),
                    "time / ours": pd_["seconds"] / o["seconds"] if pd_["ok"] else float("nan"),
                    "outside products / in them": float("nan")})
    if rows:
        df = pd.DataFrame(rows)
        df.attrs["formats"] = {"HVPs": "{:.0f}", "seconds": "{:.3f}", "rel. error": "{:.1e}", "time / ours": "{:.2f}",
                               "outside products / in them": "{:.3f}"}
        tables.append((f"**Top-5 and the spectral density against PyHessian**, top-5 to relative accuracy "
                       f"{(m.get('config') or {}).get('acc', 1e-4):g} against a float64 reference.", df))
    rows = [{"network": name, "graph": g, "reroute on, ms": 1e3 * d["dataconv"]["seconds"][f"reroute on, graph {g}"],
             "reroute off, ms": 1e3 * d["dataconv"]["seconds"][f"reroute off, graph {g}"],
             "off / on": d["dataconv"]["off_over_on"][g], "products differ by": d["dataconv"]["rel_difference"]}
            for name, d in nets.items() if d.get("dataconv") for g in ("kept", "rebuilt")]
    if rows:
        df = pd.DataFrame(rows)
        df.attrs["formats"] = {"reroute on, ms": "{:.3f}", "reroute off, ms": "{:.3f}", "off / on": "{:.2f}",
                               "products differ by": "{:.1e}"}
        tables.append(("**The data-convolution reroute** (`landscape.curvature.dataconv`) on and off (off: PyTorch's "
                       "own double backward), one HVP.", df))
    return caption, tables


def bench_provenance(res: dict) -> str:
    m = res["meta"]
    load = m.get("load_average_start")
    return (f"`{m.get('command', 'python bench/run.py')}` on {m.get('host_cpu')} ({m.get('cpu_count')} cores, torch "
            f"{m.get('torch')} with {m.get('torch_threads')} thread(s), load average {load} at the start), "
            f"{m.get('date')}, commit `{m.get('commit')}`, {m.get('seconds', float('nan')):.0f} s in all; "
            + (f"malloc: {m['malloc']}; " if m.get("malloc") else "") + "peers "
            + ", ".join(f"{k} {v}" for k, v in (m.get("peers") or {}).items()))


def bench_tables(res: dict):
    """``(targets, side_by_side)`` DataFrames from the benchmark's JSON."""
    t = pd.DataFrame(res["targets"])
    t["target"] = t["target"].astype(str)
    targets = pd.DataFrame({"network": t["problem"], "target": t["target"], "measured": t["measured"],
                            "rule": t["op"] + " " + t["threshold"].map(lambda v: f"{v:g}"),
                            "met": t["met"].map(lambda v: "(not a target)" if v is None or v != v else "yes" if v else "no"), "detail": t["detail"]})
    r = pd.DataFrame(res["rows"])
    cols = ["problem", "task", "method", "engine", "hvps", "seconds", "rel_err"]
    for c in ("hvps_vs_ours", "time_vs_ours"):
        if c in r:
            cols.append(c)
    side = r[cols].rename(columns={"problem": "network", "hvps": "HVPs", "seconds": "seconds (median)",
                                   "rel_err": "rel. error", "hvps_vs_ours": "HVPs / ours",
                                   "time_vs_ours": "time / ours"})
    return targets, side


def bench_hvp_table(res: dict):
    """Milliseconds of one HVP per engine and per network, and the ratio to one gradient."""
    rows = []
    for net, d in res["problems"].items():
        hc = d.get("hvp_cost")
        if not hc:
            continue
        for engine, sec in hc["seconds"].items():
            rows.append({"network": net, "product": engine, "ms (median)": 1e3 * sec,
                         "/ gradient": hc["over_gradient"][engine]})
    return pd.DataFrame(rows)


def plot_bench(res: dict, *, title: str):
    """HVPs and seconds of the top-1 / top-5 / top-10 runs of every method, per network."""
    rows = [r for r in res["rows"] if r["task"] in ("top-1", "top-5", "top-10")]
    nets = list(dict.fromkeys(r["problem"] for r in rows))
    most = max(sum(r["problem"] == net for r in rows) for net in nets)
    fig, axes = plt.subplots(2 * len(nets), 1, figsize=(FIGURE_WIDTH, 2 * len(nets) * (0.28 * most + 1.1)), squeeze=False,
                             layout="constrained")
    axes = axes.reshape(len(nets), 2)  # a network's HVPs, then its seconds, one above the other
    for i, net in enumerate(nets):
        rs = [r for r in rows if r["problem"] == net]
        labels = [f"{r['task']} {_short_method(r['method'])}" for r in rs]
        colours = [_COLOURS[_kind(r)] for r in rs]
        y = np.arange(len(rs))
        for j, (key, name, fmt) in enumerate((("hvps", "HVPs", "{:.0f}"), ("seconds", "seconds (median)", "{:.2g}"))):
            ax = axes[i, j]
            vals = [r[key] for r in rs]
            ax.barh(y, vals, color=colours)
            for yy, v in zip(y, vals):
                ax.text(v, yy, " " + fmt.format(v), va="center")
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
            ax.set_xlim(0, 1.15 * max(vals))
            ax.set(xlabel=name, title=f"{net}: {name}")
    fig.legend(handles=[Patch(color=_COLOURS[k], label=k) for k in _COLOURS], loc="outside lower center", ncols=1)
    fig.suptitle(title)
    fit_titles(fig)
    return fig


#: the bar colours of :func:`plot_bench`: ours, a peer's algorithm on our products, a peer on its own
_COLOURS = {"landscape": PALETTE[0], "a peer's algorithm on landscape's HVPs": PALETTE[1], "a peer on its own HVPs": PALETTE[3]}


def _kind(row: dict) -> str:
    if row["method"].startswith("landscape"):
        return "landscape"
    return "a peer's algorithm on landscape's HVPs" if row["engine"] == "ours" else "a peer on its own HVPs"


def _short_method(method: str) -> str:
    """A bar's label: the method without its parenthesis, the peers' long names shortened
    (``hessian-eigenthings deflated power (tol=acc)`` -> ``eigenthings power``)."""
    m = method.split(" (")[0]
    for long, short in (("hessian-eigenthings", "eigenthings"), ("HessianLinearOperator + eigsh", "eigsh"),
                        ("deflated power iteration", "power"), ("deflated power", "power")):
        m = m.replace(long, short)
    return m + (" (certified)" if "residual-certified" in method else "")


def _bench_module(name: str):
    path = _REPO / "bench" / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"_landscape_bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peers_available() -> dict[str, bool]:
    """Which peers import here (False for all when ``bench/peers.py`` is missing)."""
    import warnings

    mod = _bench_module("peers")
    if mod is None:
        return {"pyhessian": False, "curvlinops": False, "hessian_eigenthings": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mod.available()


def live_comparison(model: torch.nn.Module, batch: tuple, exact_top: np.ndarray, *, acc: float = 1e-4,
                    seed: int = 0):
    """A small version of the benchmark on ``model`` (a float32 copy): top-1 and top-5 in HVPs and
    seconds for us, PyHessian (tol 1e-5) and ARPACK; relative errors against ``exact_top`` (descending)."""
    import warnings

    peers = _bench_module("peers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _live(peers, model, batch, exact_top, acc=acc, seed=seed)


def _live(peers, model, batch, exact_top, *, acc, seed):
    import copy

    m32 = copy.deepcopy(model).float().cpu()
    x, y = batch[0].float().cpu(), batch[1].cpu()
    avail = peers.available()
    rows = []

    def err(vals, k):
        v = np.sort(np.asarray(vals, dtype=np.float64))[::-1][:k]
        return float(np.max(np.abs(v - exact_top[:k]) / np.abs(exact_top[:k])))

    for k in (1, 5):
        op = HessianOperator(m32, F.cross_entropy, (x, y))
        t0 = time.perf_counter()
        r = eigenvalues(op, k, tol=acc, seed=seed)
        rows.append({"task": f"top-{k}", "method": "landscape Lanczos", "HVPs": r.hvps,
                     "seconds": time.perf_counter() - t0, "rel. error": err(r.values.tolist(), k)})
        op.release()
        if avail.get("pyhessian"):
            ph = peers.pyhessian_top(m32, F.cross_entropy, (x, y), k=k, tol=1e-5, seed=seed)
            rows.append({"task": f"top-{k}", "method": "PyHessian (tol 1e-5)", "HVPs": ph["hvps"],
                         "seconds": ph["seconds"], "rel. error": err(ph["values"], k)})
        op = HessianOperator(m32, F.cross_entropy, (x, y))
        w = peers.scipy_from_torch(lambda X: op @ X, op.shape[0], op.dtype)
        ar = peers.arpack_top(w, k=k, tol=acc, seed=seed)
        rows.append({"task": f"top-{k}", "method": "ARPACK (scipy eigsh) on our operator", "HVPs": ar["hvps"],
                     "seconds": ar["seconds"], "rel. error": err(ar["values"], k)})
        op.release()
    if avail.get("pyhessian"):
        dens = peers.pyhessian_density(m32, F.cross_entropy, (x, y))
        rows.append({"task": "density", "method": "PyHessian density()", "HVPs": float("nan"), "seconds": float("nan"),
                     "rel. error": float("nan"), "note": "ran" if dens["ok"] else dens["error"].splitlines()[0]})
    return pd.DataFrame(rows)


@dataclass
class View:
    """What the page shows of the peer comparison: an intro (Markdown), tables, a figure.

    Attributes:
        source: ``"json"`` (``bench/results.json``), ``"live"`` (a small comparison run now) or ``"off"``.
        intro: Markdown paragraphs, in order.
        tables: ``(caption, DataFrame)`` pairs, captions in Markdown.
        met: ``"<met> of <targets>"`` from the JSON's targets, or None.
        results: the JSON, when read.
    """

    source: str
    intro: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    met: str | None = None
    results: dict | None = None


def _formatted(df: pd.DataFrame, formats: dict[str, str]) -> pd.DataFrame:
    df.attrs["formats"] = formats
    return df


def view(bench_source: str, results: Results, *, device: str, path: str | Path | None = None) -> View:
    """The comparison the page shows, by ``bench_source``: ``auto`` (the JSON, else a live run
    on the chapter's network if the peers import, else nothing), ``json``, ``live`` or ``off``."""
    res = bench_results(path) if bench_source in ("auto", "json") else None
    if res is not None:
        targets, side = bench_tables(res)
        met = int((targets["met"] == "yes").sum())
        n = int(targets["met"].isin(["yes", "no"]).sum())
        return View("json", ["**Produced by** " + bench_provenance(res), f"**Targets**: {met} of {n} met in that run."],
                    [("", _formatted(targets, {"measured": "{:.4g}"})),
                     ("**One HVP against one gradient** on the same batch, per engine (medians of interleaved runs)",
                      _formatted(bench_hvp_table(res), {"ms (median)": "{:.1f}", "/ gradient": "{:.2f}"})),
                     ("**Side by side** (medians; `HVPs / ours` and `time / ours` compare each row with the `landscape` "
                      "row of the same network and task; `engine` is whose HVPs were used)",
                      _formatted(side, {"HVPs": "{:.0f}", "seconds (median)": "{:.3g}", "rel. error": "{:.1e}",
                                        "HVPs / ours": "{:.2f}", "time / ours": "{:.2f}"}))],
                    met=f"{met} of {n}", results=res)
    if bench_source in ("auto", "live") and any(peers_available().values()):
        model, batch, small = rebuild(results.problem, device)
        exact_top, seed = small["eigvals"].numpy()[::-1].copy(), results.problem.seed
        return View("live", ["No `bench/results.json`: a small live comparison on this chapter's network (float32 copy), "
                             f"on this machine ({device}), now."],
                    [("", live_comparison(model, batch, exact_top, seed=seed))])
    return View("off", ["*The peer comparison is skipped: no `bench/results.json` and the peers are not installed "
                        "(`pip install -r requirements-bench.txt`, then `make bench`).*"])
