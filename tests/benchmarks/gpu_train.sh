#!/usr/bin/env bash
# The prepared GPU training run (one call on a lent GPU; see README "Training on a GPU").
#
# Both models at once (two processes on one GPU), from the ImageNet VGG16 encoder, 256 px crops, bf16
# autocast + channels_last, cosine annealing over the whole run, 4 synthetic cameras per validation scene,
# best checkpoint kept; then the training speed benchmark and the per-EV evaluation against the shipped
# pair and the naive baseline. Everything lands in one folder.
#
#   bash tests/benchmarks/gpu_train.sh OUT_DIR [MINUTES_PER_MODEL]        # on the GPU machine: OUT_DIR=$OUT/run
#
# A CPU smoke test of the same script (seconds):
#   DEVICE=cpu VARIANT=cevr-tiny ENCODER_INIT= CROP=32 BATCH=2 WORKERS=0 SAMPLES=4 VAL_SIZE=32 \
#       bash tests/benchmarks/gpu_train.sh /tmp/gpu-smoke 0.05
set -euo pipefail
out=${1:?usage: gpu_train.sh OUT_DIR [MINUTES_PER_MODEL]}
minutes=${2:-8}
shared=${SHARED:-../shared}
device=${DEVICE:-cuda}
mkdir -p "$out"
args=(--data "$shared/data/openexr-scenes" --data "$shared/data/polyhaven-hdri" -o "$out" --device "$device"
      --variant "${VARIANT:-cevr}" --crop "${CROP:-256}" --batch-size "${BATCH:-16}" --workers "${WORKERS:-6}"
      --samples-per-epoch "${SAMPLES:-1024}" --epochs "${EPOCHS:-1000}" --t0 "${T0:-40}" --t-mult 1
      --lr "${LR:-4e-4}" --continuous-steps --val-cameras "${VAL_CAMERAS:-4}" --val-size "${VAL_SIZE:-256}"
      --precision bf16 --max-minutes "$minutes" --quiet)
encoder_init=${ENCODER_INIT-$shared/weights/vgg16-imagenet-stages1-3.safetensors}
[ -n "$encoder_init" ] && args+=(--encoder-init "$encoder_init")
{ nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"; } > "$out/device.txt"
if [ "$device" != cpu ]; then
  python tests/benchmarks/bench_train.py --device "$device" --steps 20 --batch "${BATCH:-16}" --quality-steps 0 \
    --json > "$out/bench_train.json" 2> "$out/bench_train.err" || true
fi
started=$(date +%s)
cevr train "${args[@]}" --direction inc > "$out/train-inc.log" 2>&1 &
inc=$!
cevr train "${args[@]}" --direction dec > "$out/train-dec.log" 2>&1 &
dec=$!
wait "$inc"; wait "$dec"
echo "training wall time: $(( $(date +%s) - started )) s" | tee "$out/wall.txt"
test -f "$out/cevr-pair.safetensors"
if [ "${VARIANT:-cevr}" = cevr ]; then
  python tests/benchmarks/eval_weights.py "$shared/data/openexr-scenes" "$shared/data/polyhaven-hdri" \
    --weights "$out/cevr-pair.safetensors" --compare weights/cevr-synthetic.safetensors --cameras 8 \
    --json "$out/eval.json" > "$out/eval.txt" 2>&1 || true
fi
ls -la "$out"
