"""The training loop the chapters share.

:func:`fit` trains a model for some epochs and returns a :class:`History`
(one record per epoch: losses, accuracies, cumulative training time, learning
rate, and whatever the callbacks add). The optimizer, scheduler, extra loss
terms (a Hessian-trace penalty, say) and even the update itself (``step``,
which DANTE replaces) come from the caller, so every method in the book is
compared through the same code.

A diverging run is a result, not a crash: when the loss becomes NaN or
infinite the loop stops, the history says where (epoch and step) and
``history.diverged`` is true.

Example:
    >>> from landscape.training import data, models
    >>> ds = data.load("digits", n_train=200, n_test=100)
    >>> model = models.build("mlp", in_features=64, widths=[16], out_features=10)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> h = fit(model, ds.train, test=ds.test, epochs=2, optimizer=opt, device="cpu")
    >>> len(h), h.diverged
    (3, False)
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .data import batches

__all__ = ["History", "fit", "evaluate", "default_device", "resolve_device", "backprop_step", "progress_enabled", "threads"]

Batch = tuple[torch.Tensor, torch.Tensor]
StepFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[nn.Module, int, "History"], "dict[str, Any] | None"]


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is :func:`default_device`; anything else as given, checked.

    Raises:
        ValueError: a device string torch cannot parse, or CUDA where there is none.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return default_device()
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"Invalid device: {device!r} (must be 'auto', 'cpu', 'cuda' or 'cuda:N')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Invalid device: {str(device)!r} (CUDA is not available on this machine)")
    return dev


@contextlib.contextmanager
def threads(n: int | None):
    """Run a block with ``torch.set_num_threads(n)``, restoring the old value (``None``: unchanged).

    The one way the library sets threads. Tiny models on a busy 2-core machine ran
    several times faster with one thread."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def progress_enabled(progress: bool | None) -> bool:
    """Whether to show a progress bar: ``progress`` if given, else
    ``$LANDSCAPE_PROGRESS`` (0/1) if set, else only when stderr is a terminal
    (so papermill runs and CI logs stay quiet)."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get("LANDSCAPE_PROGRESS")
    if env is not None:
        return env not in ("", "0", "false", "no")
    return sys.stderr.isatty()


@dataclass
class History:
    """Per-epoch records of a training run.

    ``records[0]`` is the evaluation before training (epoch 0) when
    ``fit(eval_at_start=True)``. ``history["test_acc"]`` gives one column as a
    list. ``diverged`` and ``message`` say whether and where the loss became
    non-finite.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    diverged: bool = False
    message: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list:
        if not self.records or key not in self.records[-1] and all(key not in r for r in self.records):
            raise KeyError(f"History has no column {key!r} (columns: {', '.join(self.columns)})")
        return [r.get(key, math.nan) for r in self.records]

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.records:
            cols += [k for k in r if k not in cols]
        return cols

    @property
    def last(self) -> dict[str, Any]:
        return self.records[-1] if self.records else {}

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists of numbers) for the results cache."""
        return {"columns": {c: self[c] for c in self.columns}, "diverged": self.diverged, "message": self.message}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        cols = d["columns"]
        n = len(next(iter(cols.values()))) if cols else 0
        records = [{c: _scalar(v[i]) for c, v in cols.items()} for i in range(n)]
        return cls(records, bool(d.get("diverged", False)), str(d.get("message", "")))


def _scalar(v):
    if isinstance(v, torch.Tensor) or hasattr(v, "item"):
        return v.item()
    return v


@torch.no_grad()
def evaluate(model: nn.Module, data: Batch | Iterable[Batch], loss_fn: Callable = F.cross_entropy, *, batch_size: int = 1024, device: torch.device | str | None = None) -> dict[str, float]:
    """Mean loss (sample-weighted) and, for class targets, accuracy of ``model`` on ``data``.

    The model is put in eval mode for the pass and its mode restored after.
    """
    was_training = model.training
    model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    total, loss_sum, correct, classify = 0, torch.zeros((), device=device, dtype=torch.float64), torch.zeros((), device=device, dtype=torch.int64), False
    it = batches(data, batch_size, shuffle=False) if isinstance(data, tuple) else data
    for x, y in it:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss_sum += loss_fn(out, y).double() * x.shape[0]
        if y.dtype in (torch.int64, torch.int32) and out.ndim == 2:
            classify = True
            correct += (out.argmax(1) == y).sum()
        total += x.shape[0]
    model.train(was_training)
    res = {"loss": loss_sum.item() / max(total, 1)}
    if classify:
        res["acc"] = correct.item() / max(total, 1)
    return res


def backprop_step(optimizer: torch.optim.Optimizer, loss_fn: Callable, penalty: Callable | None = None) -> StepFn:
    """The default update: zero the gradients, loss (+ penalty), backward,
    ``optimizer.step(closure)``. The closure form lets optimizers that need
    the loss (ADINE, L-BFGS) take it; others call it once, as usual.
    Returns the mini-batch loss (without the penalty), detached."""
    counter = {"step": 0}

    def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        record: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            record["loss"] = loss.detach()
            total = loss
            if penalty is not None:
                extra = penalty(model, x, y, counter["step"])
                if extra is not None:
                    total = total + extra
            total.backward()
            return total

        optimizer.step(closure)
        counter["step"] += 1
        return record["loss"]

    return step


def fit(
    model: nn.Module,
    train: Batch | Iterable[Batch],
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable = F.cross_entropy,
    batch_size: int = 128,
    scheduler: Any = None,
    penalty: Callable | None = None,
    step: StepFn | None = None,
    test: Batch | Iterable[Batch] | None = None,
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
    device: torch.device | str | None = None,
    eval_train: bool = True,
    eval_at_start: bool = True,
    guard_every: int = 100,
    progress: bool | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Args:
        model: the model (moved to ``device``).
        train: ``(inputs, targets)`` tensors, batched here with a seeded
            shuffle (``seed + epoch``), or any iterable of batches (a DataLoader).
        epochs: number of passes over ``train``.
        optimizer: used by the default backprop step (required unless ``step`` is given).
        loss_fn: mean loss ``loss_fn(outputs, targets)``.
        batch_size: mini-batch size when ``train`` is a pair of tensors.
        scheduler: stepped once per epoch (``scheduler.step()``).
        penalty: extra loss term ``penalty(model, x, y, step_index) -> tensor | None``
            added before backward (e.g. a Hessian-trace penalty every k steps).
        step: replaces the whole update: ``step(model, x, y) -> loss`` (detached);
            DANTE uses this.
        test: evaluated after each epoch (``test_loss``, ``test_acc``).
        callbacks: ``cb(model, epoch, history) -> dict | None`` after each
            evaluation; the dict's entries join that epoch's record.
        seed: seeds the shuffling and, inside a forked RNG (the caller's
            global RNG is untouched), everything random in the model.
        device: where to train; default CUDA when present, else CPU.
        eval_train: evaluate the whole training set each epoch (``train_eval_loss``, ``train_acc``).
        eval_at_start: record epoch 0, before any update.
        guard_every: check for a non-finite loss every this many steps (and
            at each epoch's end); the check syncs with the device once.
        progress: show a tqdm bar (default: only in an interactive terminal).

    Returns:
        The :class:`History`; ``records[-1]["epoch"]`` is the last epoch run.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"Invalid epochs: {epochs!r} (must be a non-negative integer)")
    if step is None and optimizer is None:
        raise ValueError("fit needs an optimizer (or a custom step)")
    if guard_every < 1:
        raise ValueError(f"Invalid guard_every: {guard_every} (must be >= 1)")
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    if step is None:
        step = backprop_step(optimizer, loss_fn, penalty)
    elif penalty is not None:
        raise ValueError("penalty applies to the default backprop step; a custom step must add it itself")
    history = History()
    tensors = isinstance(train, tuple)
    if tensors:
        train = (train[0].to(device), train[1].to(device))
    if test is not None and isinstance(test, tuple):
        test = (test[0].to(device), test[1].to(device))
    elapsed = 0.0
    global_step = 0

    def record(epoch: int, train_loss: float) -> None:
        rec: dict[str, Any] = {"epoch": epoch, "step": global_step, "time": elapsed, "train_loss": train_loss}
        if optimizer is not None:
            rec["lr"] = optimizer.param_groups[0]["lr"]
        if eval_train and tensors:
            ev = evaluate(model, train, loss_fn, device=device)
            rec["train_eval_loss"] = ev["loss"]
            if "acc" in ev:
                rec["train_acc"] = ev["acc"]
        if test is not None:
            ev = evaluate(model, test, loss_fn, device=device)
            rec["test_loss"] = ev["loss"]
            if "acc" in ev:
                rec["test_acc"] = ev["acc"]
        history.records.append(rec)
        for cb in callbacks:
            extra = cb(model, epoch, history)
            if extra:
                rec.update(extra)

    from tqdm.auto import tqdm

    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        if eval_at_start:
            record(0, math.nan)
        bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress_enabled(progress), leave=False)
        for epoch in bar:
            model.train()
            it = batches(train, batch_size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)) if tensors else train
            losses: list[torch.Tensor] = []
            start = time.perf_counter()
            bad = None
            for x, y in it:
                if not tensors:
                    x, y = x.to(device), y.to(device)
                losses.append(step(model, x, y).reshape(()))
                global_step += 1
                if len(losses) % guard_every == 0:
                    bad = _first_nonfinite(losses)
                    if bad is not None:
                        break
            if bad is None and losses:
                bad = _first_nonfinite(losses)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            elapsed += time.perf_counter() - start
            if bad is not None:
                at = global_step - len(losses) + bad + 1
                history.diverged = True
                history.message = f"loss became {losses[bad].item()} at epoch {epoch}, step {bad + 1} of the epoch (step {at} overall); training stopped"
                history.records.append({"epoch": epoch, "step": at, "time": elapsed, "train_loss": losses[bad].item(), "diverged": True})
                break
            if scheduler is not None:
                scheduler.step()
            mean_loss = torch.stack(losses).double().mean().item() if losses else math.nan
            record(epoch, mean_loss)
            bar.set_postfix(loss=f"{mean_loss:.4f}")
        bar.close()
    return history


def _first_nonfinite(losses: list[torch.Tensor]) -> int | None:
    """Index of the first non-finite loss, with one device sync."""
    finite = torch.isfinite(torch.stack(losses))
    if bool(finite.all()):
        return None
    return int((~finite).nonzero()[0, 0])
