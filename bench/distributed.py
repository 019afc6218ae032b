"""Distributed products on this machine: the time of one block ``op @ V`` on 1 process against 2 gloo ranks.

The MLP 784-256-256-10 of ``bench/curvature_quick.py`` on 2048 random inputs, float32, one thread per process:
1 process holds all 2048 examples in 8 batches of 256; with 2 ranks each holds 4 of them and the product adds one
all-reduce of the (n, k) block. On a 2-core CPU this is a figure for honesty (two ranks share two cores with
everything else), not a speed-up claim; on a machine with 2+ GPUs (``--backend nccl``) it is the scaling figure.

Usage::

    python bench/distributed.py [--k 8] [--repeats 5] [--backend gloo] [--out bench/results-distributed.json]

Prints one JSON line: the median seconds per block on 1 process and on 2 ranks, their ratio, and the largest
difference between the products (relative to their norm); writes it, with where and when it was measured
(``meta``), to ``--out`` (the toolkit chapter's table: ``landscape.chapters.toolkit.bench.distributed_table``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curvature_quick import build  # noqa: E402

from landscape.curvature import HessianOperator  # noqa: E402


def _timed(op, V, repeats: int) -> tuple[float, torch.Tensor]:
    out = op @ V                                   # builds and warms up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = op @ V
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _batches():
    model, x, y = build(torch.float32)
    return model, [(x[i:i + 256], y[i:i + 256]) for i in range(0, x.shape[0], 256)]


def _rank(rank: int, port: int, k: int, repeats: int, backend: str, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group(backend, rank=rank, world_size=2, timeout=timedelta(seconds=120))
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    model, batches = _batches()
    model = model.to(device)
    mine = [(x.to(device), y.to(device)) for x, y in batches[rank::2]]
    op = HessianOperator(model, F.cross_entropy, mine, process_group=dist.group.WORLD)
    V = torch.randn(op.shape[0], k, generator=torch.Generator().manual_seed(0)).to(device)
    seconds, out = _timed(op, V, repeats)
    queue.put((rank, seconds, out.cpu().numpy()))
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", default="gloo", choices=("gloo", "nccl"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results-distributed.json"),
                    help="where the JSON goes (default bench/results-distributed.json; '' for none)")
    a = ap.parse_args()
    t_start, load = time.time(), os.getloadavg()[0]
    torch.set_num_threads(1)
    device = torch.device("cuda:0") if a.backend == "nccl" else torch.device("cpu")
    model, batches = _batches()
    model = model.to(device)
    op = HessianOperator(model, F.cross_entropy, [(x.to(device), y.to(device)) for x, y in batches])
    V = torch.randn(op.shape[0], a.k, generator=torch.Generator().manual_seed(0)).to(device)
    one, ref = _timed(op, V, a.repeats)
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, port, a.k, a.repeats, a.backend, q)) for r in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    two = max(s for _, s, _ in got)
    diff = max(float(abs(torch.from_numpy(o) - ref.cpu()).max()) for _, _, o in got) / float(ref.norm())
    out = {"k": a.k, "backend": a.backend, "n_params": op.shape[0], "examples": 2048,
           "one_process_s": round(one, 4), "two_ranks_s": round(two, 4), "ratio": round(two / one, 3),
           "max_rel_difference": diff}
    print(json.dumps(out))
    if a.out:
        import platform
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
        out["meta"] = {"command": "python bench/distributed.py " + " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d"),
                       "host_cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                       "torch": torch.__version__, "load_average_start": round(load, 2), "commit": commit,
                       "seconds": round(time.time() - t_start, 1), "repeats": a.repeats}
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
