#!/usr/bin/env bash
# The paper-scale and attack benchmarks on a CUDA GPU, in at most 8 minutes, every line tagged with the GPU.
#
# Installs nothing beyond the README's GPU command: the venv is `make venv` with a CUDA build of torch
# (TORCH_SPEC below, the README's), made only if .venv does not exist yet. Then, with HF_HUB_OFFLINE=1:
#   1. benchmarks/paper_scale.py: BERT-base-shaped encoder, 13 adapters per method (Table 17 sizes),
#      evaluations/s and the projected 53,248-evaluation sweep per method (≤ 300 s);
#   2. benchmarks/attack_throughput.py: TextFooler batched vs the one-query loop, FGSM (≤ 150 s).
# Each step is cut off by `timeout` so that the whole check stays within 8 minutes; a step that runs out
# says so and the check goes on.
#
#   bash benchmarks/gpu_check.sh            # on a machine with a CUDA GPU
#   bash benchmarks/gpu_check.sh --dry-run  # anywhere: the same steps on the CPU at toy sizes (plumbing only)
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; fi
TORCH_SPEC="${TORCH_SPEC:-torch==2.9.1 --index-url https://download.pytorch.org/whl/cu128}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [[ ! -x "$PY" ]]; then
    make venv TORCH_SPEC="$TORCH_SPEC" VENV="$VENV"
fi

if [[ $DRY == 0 ]]; then
    if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "gpu_check: torch $("$PY" -c 'import torch; print(torch.__version__)') in $VENV sees no CUDA GPU;" \
             "make the venv with a CUDA build (make venv TORCH_SPEC=\"$TORCH_SPEC\") or run with --dry-run" >&2
        exit 2
    fi
    TAG="$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')"
    PAPER_ARGS=(--examples 1024 --mixtures 32)
    ATTACK_ARGS=(--n 30 --fgsm-n 200)
    PAPER_S=300
    ATTACK_S=150
else
    TAG="dry run on $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1 || echo 'CPU')"
    PAPER_ARGS=(--examples 4 --mixtures 2 --methods lora)
    ATTACK_ARGS=(--n 2 --slice 2 --fgsm-n 4)
    PAPER_S=600
    ATTACK_S=600
fi

started=$(date +%s)
step() {  # step NAME SECONDS COMMAND...: run it under timeout, every output line tagged
    local name=$1 limit=$2
    shift 2
    echo "[$TAG] == $name (limit ${limit} s) =="
    local rc=0
    timeout --signal=INT --kill-after=10 "$limit" "$@" 2>&1 | sed -u "s|^|[$TAG] |" || rc=${PIPESTATUS[0]}
    if [[ $rc == 124 || $rc == 130 ]]; then
        echo "[$TAG] $name: stopped after ${limit} s (time limit); figures above are what it printed"
    elif [[ $rc != 0 ]]; then
        echo "[$TAG] $name: failed with exit code $rc"
    fi
}

"$PY" -c "import torch; print('[$TAG] torch', torch.__version__, 'CUDA', torch.version.cuda)"
step "paper scale" "$PAPER_S" "$PY" benchmarks/paper_scale.py "${PAPER_ARGS[@]}"
step "attacks" "$ATTACK_S" "$PY" benchmarks/attack_throughput.py "${ATTACK_ARGS[@]}"
echo "[$TAG] gpu_check done in $(( $(date +%s) - started )) s"
