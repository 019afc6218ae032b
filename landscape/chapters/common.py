"""Parameters that every chapter shares."""

from __future__ import annotations

from ..experiment.params import Param

PROFILE = Param(str, "which profile produced this run", choices=("smoke", "cpu", "gpu"))
DEVICE = Param(str, "'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'")
DATA_ROOT = Param(str, "a folder to look for file-based data sets in (None: $LANDSCAPE_DATA, then system folders)", nullable=True)
SEEDS = Param(list, "random seeds; one run per seed (each at most once: a repeated seed is not another replicate)", item=int,
              low=0, high=2**31 - 1, min_len=1, unique=True)
THREADS = Param(int, "torch CPU threads while the chapter computes (None: torch's default); 1 is fastest for small models on a busy machine",
                low=1, high=1024, nullable=True)
