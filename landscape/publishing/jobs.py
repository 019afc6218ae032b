"""What every executor of the runner shares: a chapter to execute (:class:`Task`), what executing it came to
(:class:`Outcome`), and the one status line that shows a run's chapters or jobs (:class:`StateLine`).

The runner (:mod:`landscape.publishing.runner`) turns tasks into outcomes through an executor - here, one
after another or ``--jobs N`` at once (``LocalExecutor``), or a SLURM job each
(:class:`landscape.publishing.slurm.SlurmExecutor`) - and handles every outcome the same way: the closing
table, and publishing only what succeeded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Task", "Outcome", "StateLine"]


@dataclass
class Task:
    """One chapter to execute: its notebook (relative to the root), where the executed copy goes, its parameters."""

    chapter: str
    src: str
    dst: Path
    parameters: dict[str, Any]


@dataclass
class Outcome:
    """What executing one chapter's notebook came to, wherever it ran (this process, a local worker, a SLURM job)."""

    status: str  # "ok" | "failed" | "interrupted"
    error: str
    seconds: float


class StateLine:
    """One status line, ``[landscape] <text>``: rewritten in place on a terminal, a line per change elsewhere;
    silent with ``LANDSCAPE_PROGRESS=0``."""

    def __init__(self, stream):
        self.stream, self.last = stream, None
        self.tty = getattr(stream, "isatty", lambda: False)()
        self.off = os.environ.get("LANDSCAPE_PROGRESS") == "0"

    def show(self, text: str) -> None:
        """Show ``text`` unless it is the line already shown."""
        if self.off or text == self.last:
            return
        self.last = text
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + f"[landscape] {text}"[:width].ljust(width))
        else:
            self.stream.write(f"[landscape] {text}\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the line on a terminal (the next output starts on a line of its own)."""
        if self.tty and self.last is not None and not self.off:
            self.stream.write("\n")
            self.stream.flush()
