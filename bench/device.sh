#!/bin/bash
# The one prepared command for a lent GPU machine (DEVELOPERS.md, "The GPU machine"): the GPU-path
# benchmark of issue 21 (bench/gpu.py) on the benchmark's MLP and CNN and a ResNet-18; its JSON, its log
# and the GPU's name come back under $OUT. That machine has torch, torchvision, numpy and scipy, which is
# all bench/gpu.py needs; `make device-peers` puts PyHessian (pure Python) in .peers/ here: carry it
# (carry: [".peers"]) to compare with PyHessian, else its rows are left out.
#   here:  make device-peers
#   there: LANDSCAPE_COMMIT=<short sha here> bash bench/device.sh   (extra arguments go to bench/gpu.py;
#          the copy there may have no git history, so the commit is named by the caller)
# It stops bench/gpu.py after BENCH_TIMEOUT seconds (default 480), inside the tool's 10-minute limit.
# Then copy $OUT/results-gpu.json to bench/results-gpu.json here and republish the toolkit chapter.
set -o pipefail
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .peers ]; then export PYTHONPATH="$PWD/.peers:$PYTHONPATH"; fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; python3 -c \
  "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"; } \
  > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
timeout "${BENCH_TIMEOUT:-480}" python3 bench/gpu.py --out "$OUT/results-gpu.json" "$@" 2>&1 | tee "$OUT/gpu-bench.log"
