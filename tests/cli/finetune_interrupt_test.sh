#!/usr/bin/env bash
# ckpt finetune interrupted (SIGINT, then kill -9) after its first checkpoint: every checkpoint-N left
# is complete (no staging directory survives SIGINT), and `--resume` from what is left ends with the
# adapter an uninterrupted run writes, byte for byte. Usage: finetune_interrupt_test.sh CKPT SAMPLE DATA WORK
set -u
ckpt=$1 sample=$2 data=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
args=(finetune "$sample" --data "$data" --max_steps 40 --save_steps 5 --logging_steps 5 --learning_rate 1e-2 --r 4
      --target_modules all-linear --per_device_train_batch_size 2 --no-progress -t 1)
fail() { echo "FAIL: $*"; exit 1; }

"$ckpt" "${args[@]}" -o "$work/full" >/dev/null || fail "uninterrupted run"
for signal in INT KILL; do
  out=$work/cut-$signal
  "$ckpt" "${args[@]}" -o "$out" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do  # until the first checkpoint is in place (60 s at most)
    [ -f "$out/checkpoint-5/trainer_state.json" ] && break
    sleep 0.1
  done
  [ -f "$out/checkpoint-5/trainer_state.json" ] || { kill -9 $pid 2>/dev/null; fail "$signal: no checkpoint appeared"; }
  kill -$signal $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ -f "$out/adapter_model.safetensors" ] && { echo "note: $signal arrived after the run finished"; continue; }
  for c in "$out"/checkpoint-*; do
    for f in adapter_config.json adapter_model.safetensors optimizer.pt trainer_state.json; do
      [ -f "$c/$f" ] || fail "$signal: $c lacks $f"
    done
  done
  if [ $signal = INT ] && [ -n "$(find "$out" -name '.*ckpt-stage-*' -o -name '.*ckpt-tmp-*')" ]; then fail "SIGINT left a temporary"; fi
  "$ckpt" "${args[@]}" -o "$out" --resume >/dev/null || fail "$signal: --resume"
  cmp -s "$work/full/adapter_model.safetensors" "$out/adapter_model.safetensors" || fail "$signal: resumed adapter differs"
done
rm -rf "$work"
echo "ok"
