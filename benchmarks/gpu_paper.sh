#!/usr/bin/env bash
# The paper's main study (6 variants x 20 seeds x 5,000 full-batch epochs, test accuracy every epoch) on one
# accelerator, at bf16x3 ("high") and full fp32 ("highest") matmul precision, timed; the sequential PyTorch
# loop's seconds per model-epoch on the same device from a short slice, with the plain and the bf16_split first
# layer (and its error against float64 on this device); and the accuracy difference between the runs.
#
#   DISTNET_DATA_DIR=/path/to/data bash benchmarks/gpu_paper.sh
#
# Knobs (environment): EPOCHS (5000), SEEDS (20), VARIANTS (the six main ones), OUTDIR (runs/gpu_paper),
# RUNS ("high+split highest+split": each PRECISION or PRECISION+split, the latter with --config.bf16_split),
# BUDGET_S (stop starting/continuing work after this many seconds; 0 = none), TORCH_DEVICE (cuda).
# On CPU, a tiny check: EPOCHS=20 SEEDS=2 TORCH_DEVICE=cpu bash benchmarks/gpu_paper.sh
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5000}; SEEDS=${SEEDS:-20}; OUTDIR=${OUTDIR:-runs/gpu_paper}
VARIANTS=${VARIANTS:-ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg}; RUNS=${RUNS:-high+split highest+split}
BUDGET_S=${BUDGET_S:-0}; TORCH_DEVICE=${TORCH_DEVICE:-cuda}; PY=${PY:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
left() { [ "$BUDGET_S" -eq 0 ] && echo 100000 || echo $(( BUDGET_S - ($(date +%s) - start) )); }
ckpt=$(( EPOCHS / 5 )); chunk=$(( EPOCHS >= 500 ? 500 : EPOCHS / 2 ))

echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
$PY -c "import jax; print('jax', jax.__version__, jax.devices())"

t=$(left)
if [ "$t" -gt 20 ]; then
  echo "== seconds per model-epoch, same device: distnet (20 seeds) vs the sequential PyTorch loop (short slice)"
  for prec in $(for r in $RUNS; do echo "${r%+split}"; done | sort -u); do
    timeout "$(left)" $PY benchmarks/throughput.py --seeds "$SEEDS" --epochs 50 --torch-device "$TORCH_DEVICE" \
      --precision "$prec" --layout auto,split
  done
fi
for run in $RUNS; do
  prec=${run%+split}; split=False; [ "$run" != "$prec" ] && split=True
  t=$(left); [ "$t" -le 30 ] && { echo "== $run: skipped, budget spent"; continue; }
  echo "== main study at matmul_precision=$prec bf16_split=$split: ${VARIANTS//,/ } x $SEEDS seeds x $EPOCHS epochs (time limit ${t}s)"
  t0=$(date +%s.%N)
  timeout --signal=TERM "$t" $PY train.py --config configs/paper_table1.py --workdir "$OUTDIR/$run" \
    --config.variants="$VARIANTS" --config.num_seeds="$SEEDS" --config.epochs="$EPOCHS" \
    --config.checkpoint_every="$ckpt" --config.chunk_epochs="$chunk" --config.matmul_precision="$prec" \
    --config.bf16_split="$split"
  rc=$?
  t1=$(date +%s.%N)
  echo "== $run: exit $rc, wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s for $(( $(echo "$VARIANTS" | tr ',' '\n' | wc -l) * SEEDS * EPOCHS )) model-epochs (compile, data load and checkpoints included)"
done

set -- $RUNS
if [ $# -ge 2 ]; then
  echo "== accuracy difference between runs ($1 vs $2)"
  $PY benchmarks/compare_precisions.py "$OUTDIR/$1" "$OUTDIR/$2"
fi
echo "== total $(( $(date +%s) - start )) s"
