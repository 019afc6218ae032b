"""What each rank of the distributed tests runs (``tests/test_curvature_distributed.py``): a process of a gloo group
on 127.0.0.1, its shard of a seeded float64 problem, and the curvature results it computes, sent back whole.

:func:`launch` starts ``world`` processes (``torch.multiprocessing``, spawn), bounds them by ``timeout`` seconds
and returns every rank's result; a rank that raised or did not finish is reported by rank, with its traceback,
and the others are killed, so a failing rank can never hang the test suite.
"""

from __future__ import annotations

import io
import os
import socket
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

DT = torch.float64


def problem(seed: int = 0, sizes=(9, 7, 4, 6)):
    """A tanh MLP 5-6-3 and unequal batches of a 3-class problem, all from ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).to(DT)
    g = torch.Generator().manual_seed(100 + seed)
    batches = [(torch.randn(b, 5, generator=g, dtype=DT), torch.randint(0, 3, (b,), generator=g)) for b in sizes]
    return model, batches


def results(op, seed: int = 0) -> dict:
    """Products, top-5 eigenvalues and a Hutch++ trace of ``op`` (the same calls on every rank and in the reference)."""
    from landscape.curvature import eigenvalues, trace

    V = torch.randn(op.shape[0], 4, generator=torch.Generator().manual_seed(seed), dtype=DT)
    top = eigenvalues(op, 5, tol=1e-10, seed=seed)
    tr = trace(op, num_matvecs=30, seed=seed)
    return {"products": op @ V, "top": top.values, "trace": tr.value, "trace_se": tr.stderr,
            "samples": op.num_samples}


def shards(batches, rank: int, layout: str):
    """This rank's batches: ``uneven`` (rank 0 three batches, rank 1 one), ``empty`` (rank 1 none),
    ``strided`` (every other batch)."""
    if layout == "uneven":
        return batches[:3] if rank == 0 else batches[3:]
    if layout == "empty":
        return batches if rank == 0 else []
    return batches[rank::2]


def scenario(rank: int, name: str) -> dict:
    from landscape.curvature import HessianOperator

    model, batches = problem()
    group = dist.group.WORLD
    if name in ("uneven", "empty", "strided"):
        return results(HessianOperator(model, F.cross_entropy, shards(batches, rank, name), process_group=group))
    if name == "sum":
        return results(HessianOperator(model, nn.CrossEntropyLoss(reduction="sum"), shards(batches, rank, "uneven"),
                                       process_group=group))
    if name == "ddp":
        wrapped = nn.parallel.DistributedDataParallel(model)
        return results(HessianOperator(wrapped, F.cross_entropy, shards(batches, rank, "uneven"), process_group=group))
    if name == "bad_rank":                      # rank 1's shard holds a NaN: it raises; rank 0 must not hang
        mine = shards(batches, rank, "uneven")
        if rank == 1:
            mine = [(mine[0][0].clone().fill_(float("nan")), mine[0][1])]
        HessianOperator(model, F.cross_entropy, mine, process_group=group)
        return {}
    if name == "crash":                         # rank 1 dies outright before any collective
        if rank == 1:
            raise RuntimeError("rank 1 failed on purpose")
        HessianOperator(model, F.cross_entropy, shards(batches, rank, "uneven"), process_group=group)
        return {}
    raise KeyError(name)


def _rank_main(rank: int, world: int, port: int, names: list[str], queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    out: dict = {}
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=20))
        for name in names:
            try:
                out[name] = scenario(rank, name)
            except Exception as err:                        # noqa: BLE001 - reported to the parent by rank
                out[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    except Exception as err:                                # noqa: BLE001
        out["__setup__"] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    finally:
        buf = io.BytesIO()
        torch.save(out, buf)                # bytes, not shared tensors: the rank may exit before they are read
        queue.put((rank, buf.getvalue()))
        if dist.is_initialized():
            dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(names: list[str], world: int = 2, timeout: float = 240.0) -> dict[int, dict]:
    """Run the scenarios ``names`` on ``world`` ranks; ``{rank: {scenario: result}}``.

    Raises:
        AssertionError: a rank did not report within ``timeout`` (it is killed), naming the rank.
    """
    import queue as q

    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    channel = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, names, channel), daemon=True) for r in range(world)]
    for p in procs:
        p.start()
    got: dict[int, dict] = {}
    try:
        while len(got) < world:
            try:
                rank, out = channel.get(timeout=timeout)
            except q.Empty:
                missing = sorted(set(range(world)) - set(got))
                raise AssertionError(f"rank(s) {missing} did not report within {timeout:.0f} s") from None
            got[rank] = torch.load(io.BytesIO(out), weights_only=True)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return got


def main_under_launcher(out_dir: str, names: list[str]) -> None:
    """One rank started by a launcher (``srun -n 2 python tests/distributed_worker.py OUT NAME ...``): rank and
    world from ``SLURM_PROCID`` / ``SLURM_NTASKS`` (or torchrun's ``RANK`` / ``WORLD_SIZE``), the rendezvous
    port from ``MASTER_PORT``; the rank's results go to ``OUT/rank<r>.pt``."""
    rank = int(os.environ.get("SLURM_PROCID", os.environ.get("RANK", "0")))
    world = int(os.environ.get("SLURM_NTASKS", os.environ.get("WORLD_SIZE", "1")))

    class _File:                                            # _rank_main's queue, writing the bytes to a file
        def put(self, item):
            r, data = item
            with open(os.path.join(out_dir, f"rank{r}.pt"), "wb") as f:
                f.write(data)

    _rank_main(rank, world, int(os.environ["MASTER_PORT"]), names, _File())


if __name__ == "__main__":
    import sys

    main_under_launcher(sys.argv[1], sys.argv[2:])
