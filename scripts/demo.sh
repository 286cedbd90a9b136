#!/usr/bin/env bash
# The main job on the shipped sample model: set up, build, inspect the tiny Llama checkpoint, convert
# it to GGUF (f16 and q8_0), quantize it (Q4_K_M GGUF, bitsandbytes NF4 with double quantization) and
# convert back to HF, merge the shipped LoRA adapter (HF, GGUF and Q4_K_M outputs; a llama.cpp GGUF
# LoRA), then generate with each result and check the conversions and merges against their sources;
# check and split the sample RAFT data, score base vs adapter answers with ROUGE and BLEU, fine-tune a
# LoRA adapter on the RAFT data and show the answers and scores before and after, merged and run; keep
# the model and the adapter in one verifiable .ckpt archive and run the adapter from inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ckpt=build/inspect/ckpt
echo "== ckpt inspect samples/tiny-llama"
"$ckpt" inspect samples/tiny-llama
out=build/demo
mkdir -p "$out"
echo "== ckpt convert samples/tiny-llama -o $out/tiny-llama-f16.gguf --outtype f16 (the default, auto, keeps the sample's bf16)"
"$ckpt" convert samples/tiny-llama -o "$out/tiny-llama-f16.gguf" --outtype f16
echo "== ckpt convert samples/tiny-llama -o $out/tiny-llama-q8_0.gguf --outtype q8_0"
"$ckpt" convert samples/tiny-llama -o "$out/tiny-llama-q8_0.gguf" --outtype q8_0
echo "== ckpt inspect $out/tiny-llama-q8_0.gguf"
"$ckpt" inspect "$out/tiny-llama-q8_0.gguf"
echo "== ckpt convert $out/tiny-llama-f16.gguf --to hf -o $out/tiny-llama-hf"
"$ckpt" convert "$out/tiny-llama-f16.gguf" --to hf -o "$out/tiny-llama-hf" --force  # --force: replace an earlier demo run's directory
echo "== ckpt convert samples/tiny-llama -o $out/tiny-llama-f32.gguf --outtype f32"
"$ckpt" convert samples/tiny-llama -o "$out/tiny-llama-f32.gguf" --outtype f32
echo "== ckpt quantize $out/tiny-llama-f32.gguf -o $out/tiny-llama-q4_k_m.gguf --type Q4_K_M --stats"
"$ckpt" quantize "$out/tiny-llama-f32.gguf" -o "$out/tiny-llama-q4_k_m.gguf" --type Q4_K_M --stats
echo "== ckpt quantize samples/tiny-llama -o $out/tiny-llama-nf4 --type nf4-dq"
"$ckpt" quantize samples/tiny-llama -o "$out/tiny-llama-nf4" --type nf4-dq --force
echo "== ckpt convert $out/tiny-llama-nf4 -o $out/tiny-llama-from-nf4.gguf (bnb 4-bit in, dequantized on the fly)"
"$ckpt" convert "$out/tiny-llama-nf4" -o "$out/tiny-llama-from-nf4.gguf"
echo "== ckpt run $out/tiny-llama-q4_k_m.gguf -p 'Once upon a time' -n 24 --verbose"
"$ckpt" run "$out/tiny-llama-q4_k_m.gguf" -p "Once upon a time" -n 24 --seed 1 --verbose
echo "== ckpt run samples/tiny-llama --check $out/tiny-llama-f16.gguf (HF source vs its GGUF: logit agreement)"
"$ckpt" run samples/tiny-llama --check "$out/tiny-llama-f16.gguf" -p "Once upon a time" -n 16
echo "== ckpt run $out/tiny-llama-f32.gguf --check $out/tiny-llama-q4_k_m.gguf (what Q4_K_M costs)"
"$ckpt" run "$out/tiny-llama-f32.gguf" --check "$out/tiny-llama-q4_k_m.gguf" -p "Once upon a time" -n 16
echo "== ckpt run $out/tiny-llama-nf4 (bitsandbytes NF4 runs on its 4-bit codes)"
"$ckpt" run "$out/tiny-llama-nf4" -p "Once upon a time" -n 16 --greedy
lora=samples/tiny-llama-lora
echo "== ckpt inspect $lora --base samples/tiny-llama (rsLoRA with a rank pattern: the scale of every module)"
"$ckpt" inspect "$lora" | sed -n '1,15p'
"$ckpt" inspect "$lora" --base samples/tiny-llama
echo "== ckpt merge samples/tiny-llama $lora -o $out/tiny-llama-merged (PEFT's merge_and_unload, exactly)"
"$ckpt" merge samples/tiny-llama "$lora" -o "$out/tiny-llama-merged" --force -v
echo "== ckpt merge $out/tiny-llama-f32.gguf $lora -o $out/tiny-llama-merged-q4_k_m.gguf --outtype Q4_K_M (straight to a K-quant)"
"$ckpt" merge "$out/tiny-llama-f32.gguf" "$lora" -o "$out/tiny-llama-merged-q4_k_m.gguf" --outtype Q4_K_M -v
echo "== ckpt convert $lora --base samples/tiny-llama -o $out/tiny-llama-lora.gguf (a LoRA llama.cpp and Ollama load)"
"$ckpt" convert "$lora" --base samples/tiny-llama -o "$out/tiny-llama-lora.gguf"
echo "== ckpt run $out/tiny-llama-f16.gguf --lora $out/tiny-llama-lora.gguf --check $out/tiny-llama-merged (adapter at run time vs merged)"
"$ckpt" run "$out/tiny-llama-f16.gguf" --lora "$out/tiny-llama-lora.gguf" --check "$out/tiny-llama-merged" -p "Once upon a time" -n 16
echo "== ckpt run $out/tiny-llama-merged (generation with the adapter merged)"
"$ckpt" run "$out/tiny-llama-merged" -p "Once upon a time" -n 16 --greedy
data=samples/raft-demo.jsonl
echo "== ckpt data check $data --model samples/tiny-llama (RAFT records: schema, duplicates, token lengths)"
"$ckpt" data check "$data" --model samples/tiny-llama --max_seq_length 128
echo "== ckpt data split $data --val 0.5 --seed 1 -o $out (the same split on every machine)"
"$ckpt" data split "$data" --val 0.5 --seed 1 -o "$out" --force
echo "== ckpt eval samples/tiny-llama --lora $lora --compare-base --data $out/raft-demo.val.jsonl (ROUGE and BLEU, base vs adapter)"
"$ckpt" eval samples/tiny-llama --lora "$lora" --compare-base --data "$out/raft-demo.val.jsonl" -n 12 -o "$out/eval"
tuned=$out/tiny-llama-raft
echo "== ckpt finetune samples/tiny-llama --data $data -o $tuned (LoRA on the frozen base, written as PEFT writes adapters)"
"$ckpt" finetune samples/tiny-llama --data "$data" -o "$tuned" --force --learning_rate 1e-2 --r 16 --lora_alpha 32 \
  --target_modules q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head --per_device_train_batch_size 4 \
  --max_steps 120 --logging_steps 20 --save_steps 60
echo "== ckpt eval samples/tiny-llama --lora $tuned --compare-base --data $data (answers and scores before / after)"
"$ckpt" eval samples/tiny-llama --lora "$tuned" --compare-base --data "$data" -n 32 --show 4 -o "$out/eval-raft"
echo "== ckpt merge samples/tiny-llama $tuned -o $out/tiny-llama-raft-merged, then greedy generation from the merged model"
"$ckpt" merge samples/tiny-llama "$tuned" -o "$out/tiny-llama-raft-merged" --outtype f32 --force
"$ckpt" run "$out/tiny-llama-raft-merged" --greedy -n 8 \
  -p "$(printf 'Answer the question from the context.\n\nLily had a red ball. She played with it in the park.\n\nQuestion: What color was Lily%ss ball?\nAnswer: ' "'")"
archive=$out/tiny-llama.ckpt
echo "== ckpt convert samples/tiny-llama -o $archive, add the fine-tuned adapter, verify, run it from inside the archive"
"$ckpt" convert samples/tiny-llama -o "$archive"
"$ckpt" adapter add "$archive" "$tuned" --name raft
"$ckpt" adapter ls "$archive"
"$ckpt" verify "$archive"
"$ckpt" run "$archive" --lora raft --greedy -n 8 \
  -p "$(printf 'Answer the question from the context.\n\nLily had a red ball. She played with it in the park.\n\nQuestion: What color was Lily%ss ball?\nAnswer: ' "'")"
echo "== ckpt convert $archive -o $out/tiny-llama-from-archive.gguf (the archive's HF checkpoint to GGUF in one step)"
"$ckpt" convert "$archive" -o "$out/tiny-llama-from-archive.gguf"
adapter=../shared/data/peft-gpt2-lora-tigrinya
if [ -d "$adapter" ]; then
  echo "== ckpt inspect a PEFT LoRA adapter (r, lora_alpha, scale, targets)"
  "$ckpt" inspect "$adapter"
fi
stories=../shared/data/karpathy-stories260K
if [ -f "$stories/stories260K.bin" ]; then
  echo "== a trained model: llama2.c stories260K -> GGUF -> Q8_0, then greedy text"
  "$ckpt" convert "$stories/stories260K.bin" --llama2c-vocab "$stories/tok512.bin" -o "$out/stories260K.gguf" --outtype f32
  "$ckpt" quantize "$out/stories260K.gguf" -o "$out/stories260K-q8_0.gguf" --type Q8_0
  "$ckpt" run "$out/stories260K-q8_0.gguf" -p "Once upon a time" -n 48 --greedy
fi
