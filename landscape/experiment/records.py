"""Result records: what a run found, where and when, kept as JSON in ``results/``.

A gpu-profile run of a chapter (the papers' scale) leaves
``results/<chapter>-gpu.json``: its per-arm, per-seed numbers, its claims as
decided, its parameters and its provenance (:func:`provenance`: date, device,
library commit, torch version, duration). The chapter pages and the claims
ledger read these records; nothing here knows a chapter.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "results" / "x-gpu.json"
    >>> write_record({"claims": [], "arms": {}}, p) == p, read_record(p)
    (True, {'claims': [], 'arms': {}})
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .sources import PACKAGE_ROOT

__all__ = ["REPO_ROOT", "GpuRecord", "record_path", "read_record", "write_record", "provenance", "claims_record",
           "git_commit", "device_label"]

#: the repository that holds the package (``book/``, ``profiles/``, ``results/``)
REPO_ROOT = PACKAGE_ROOT.parent


def git_commit() -> str:
    """The library's git commit (short), with ``+dirty`` when ``landscape/`` has uncommitted changes; ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "landscape"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_label(device: torch.device, threads: int | None = None) -> str:
    """What ran: the GPU's name, or ``CPU (<processor>, <n> threads)`` with ``threads`` (the
    count the computation used, when it set one) or torch's current count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads() if threads is None else threads
    return f"CPU ({platform.processor() or platform.machine()}, {n} thread{'' if n == 1 else 's'})"


def record_path(chapter: str, root: str | Path | None = None) -> Path:
    """Where a gpu-profile run of ``chapter`` leaves its record: ``<root>/results/<chapter>-gpu.json``."""
    return Path(REPO_ROOT if root is None else root) / "results" / f"{chapter}-gpu.json"


def read_record(path: str | Path) -> dict | None:
    """The record at ``path`` (a JSON object with a list of ``claims``), or None when absent,
    unreadable or foreign."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("claims"), list) else None


def write_record(record: dict, path: str | Path) -> Path:
    """Write ``record`` as JSON to ``path`` atomically (a temporary file beside it, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record, indent=1, allow_nan=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def provenance(*, profile: str, device: torch.device, seconds: float, threads: int | None = None) -> dict[str, Any]:
    """Where, when and with what a run was made: profile, UTC date, device, library commit, torch, seconds."""
    return {"profile": profile, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device": device_label(device, threads), "commit": git_commit(), "torch": torch.__version__, "seconds": float(seconds)}


def claims_record(claims: Sequence[Any]) -> list[dict[str, Any]]:
    """Decided claims as JSON-able rows: id, statement, value (None when not a finite number: JSON has
    no NaN), rule, verdict."""
    def number(v: Any) -> float | None:
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    return [{"id": c.id, "statement": c.statement, "value": number(c.value), "rule": c.rule, "verdict": c.verdict}
            for c in claims]


def setting_verdicts(record: dict | None) -> dict[str, list[tuple[str, str]]]:
    """``{claim id: [(setting, verdict), ...]}`` of a gpu-profile record of the v2 rules, in the
    record's order (a claim decided once per data set has one pair per data set); empty for no
    record, or for a record of other rules (a v1 record is not the paper's setting)."""
    if not record or record.get("rules") != "v2":
        return {}
    out: dict[str, list[tuple[str, str]]] = {}
    for c in record["claims"]:
        out.setdefault(str(c["id"]), []).append((str(c.get("setting", "")), c["verdict"]))
    return out


class GpuRecord:
    """A chapter's gpu-profile record, ``results/<chapter>-gpu.json``: written by a gpu-profile run only,
    read back only when it has the chapter's shape.

    Args:
        chapter: the chapter's name (the file is :func:`record_path` of it).
        make: ``make(results, claims, p, *, device, seconds) -> dict``, the chapter's record of a run.
        required: keys the record must hold, with their types (``{"settings": dict, "params": dict}``).
    """

    def __init__(self, chapter: str, make: Callable[..., dict], required: dict[str, type]):
        self.path, self.make, self.required = record_path(chapter), make, dict(required)

    def save(self, record: dict, path: str | Path | None = None) -> Path:
        """Write ``record`` as JSON (atomically) to ``path`` (default: the chapter's record file)."""
        return write_record(record, self.path if path is None else path)

    def load(self, path: str | Path | None = None) -> dict | None:
        """The record of the last gpu-profile run, or None when there is none (or it is unreadable or foreign)."""
        rec = read_record(self.path if path is None else path)
        ok = rec is not None and all(isinstance(rec.get(k), t) for k, t in self.required.items())
        return rec if ok else None

    def record_run(self, results: Any, claims: Sequence[Any], p: Any, *, device: torch.device, seconds: float,
                   path: str | Path | None = None) -> Path | None:
        """On the gpu profile, write this run's record and say so; on any other profile do nothing (the verdict
        strip shows the last gpu record). Returns the path written, or None."""
        if p.profile != "gpu":
            return None
        out = self.save(self.make(results, claims, p, device=device, seconds=seconds), path)
        print(f"Recorded this run in {out.name} (the verdict strip of the other profiles shows it).")
        return out
