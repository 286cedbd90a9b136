#!/usr/bin/env bash
# llama.cpp interop: converts with ckpt, then loads and runs the result with llama.cpp's own libllama.
# Usage: run_interop.sh CASE CKPT_BINARY SOURCE_DIR SHARED_DATA_DIR WORK_DIR CHECKPOINT_MAKER GGUF_COMPARER [GREEDY_AGREEMENT]
# Exit 77 (skip) when npm/the registry is unavailable or ../shared is absent for the case.
set -euo pipefail
case_name=$1 ckpt=$2 src=$3 shared=$4 work=$5 maker=$6 compare=$7 agreement=${8:-} render=${9:-}
here=$(cd "$(dirname "$0")" && pwd)
peer_line=$(bash "$here/peer.sh") || exit $?
read -r peer bins <<<"$peer_line"
mkdir -p "$work"
need_shared() { [ -e "$shared/$1" ] || { echo "SKIP: $shared/$1 absent (no ../shared)"; exit 77; }; }
greedy() { "$peer" "$bins" greedy "$@"; }

case $case_name in
  stories260k)
    # llama.cpp's greedy ids on our conversion must equal its ids on its own conversion (recorded).
    need_shared karpathy-stories260K/stories260K.bin
    d=$shared/karpathy-stories260K
    "$ckpt" convert "$d/stories260K.bin" --llama2c-vocab "$d/tok512.bin" -o "$work/s260.gguf" --outtype f32 --no-progress
    got=$(greedy "$work/s260.gguf" "Once upon a time" 20 | sed -n 's/^generated ids: //p' | tr ' ' ',')
    want=$(sed -n 's/^generated ids: \[\(.*\)\]$/\1/p' "$d/llama.cpp-greedy-20.txt")
    echo "llama.cpp on ckpt's file: [$got]"; echo "recorded reference:       [$want]"
    [ "$got" = "$want" ]
    ;;
  sample-*)
    outtype=${case_name#sample-}
    extra=()
    if [ "$outtype" = split ]; then outtype=f16; extra=(--split-max-tensors 8); fi
    "$ckpt" convert "$src/samples/tiny-llama" -o "$work/tiny-$case_name.gguf" --outtype "$outtype" "${extra[@]}" --no-progress
    first=$work/tiny-$case_name.gguf
    [ ${#extra[@]} -gt 0 ] && first=$work/tiny-$case_name-00001-of-00003.gguf
    out=$(greedy "$first" "Once upon a time" 8)
    echo "$out"
    # BOS + the prompt tokens, then 8 generated ids.
    [ "$(echo "$out" | sed -n 's/^generated ids: //p' | wc -w)" = 8 ]
    ;;
  gpt2)
    need_shared lm-buddy-fake_gpt2/model.safetensors
    "$ckpt" convert "$shared/lm-buddy-fake_gpt2" -o "$work/gpt2.gguf" --outtype f32 --no-progress
    out=$(greedy "$work/gpt2.gguf" "Hello world" 4)
    echo "$out"
    # GPT-2's own tokenizer: "Hello world" is [15496, 995].
    echo "$out" | grep -qx "prompt ids: 15496 995"
    ;;
  qwen2)
    need_shared lm-buddy-fake_gpt2/tokenizer.json
    "$maker" qwen2 "$work/qwen2" "$shared/lm-buddy-fake_gpt2" 32 64 2 4 2 50257
    "$ckpt" convert "$work/qwen2" -o "$work/qwen2.gguf" --outtype q8_0 --no-progress
    out=$(greedy "$work/qwen2.gguf" "Hello world" 4)
    echo "$out"
    echo "$out" | grep -qx "prompt ids: 15496 995"
    ;;
  quantize-rows)
    # Block level: every quantizer ckpt has, with and without an importance row, against ggml's own
    # ggml_quantize_chunk on rows built to trip them (zeros, constants, an outlier, 1e-20s, one sign),
    # and ckpt's dequantizers against ggml's to_float on ggml's blocks.
    rows=${maker%/*}/quantize_rows
    cd "$work"
    fail=0
    for n in 256 1024; do
      "$rows" gen 33 $n $n v.f32 im.f32
      for t in Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL IQ4_XS Q2_K Q3_K Q4_K Q5_K Q6_K; do
        for w in "" im.f32; do
          "$peer" "$bins" quantize-rows $t $n v.f32 ref.bin $w
          "$rows" encode $t $n v.f32 got.bin $w
          if cmp -s ref.bin got.bin; then echo "$t n=$n ${w:+imatrix }identical"; else echo "$t n=$n ${w:+imatrix }DIFFERS: $(cmp ref.bin got.bin | head -1)"; fail=1; fi
        done
        "$peer" "$bins" dequantize-rows $t $((33 * n)) ref.bin want.f32
        "$rows" decode $t $((33 * n)) ref.bin got.f32
        cmp -s want.f32 got.f32 || { echo "$t dequantized values differ"; fail=1; }
      done
    done
    exit $fail
    ;;
  quantize-*)
    # Same f32 input quantized by llama.cpp (llama_model_quantize as llama-quantize calls it) and by
    # ckpt: every tensor must get the same type and byte-identical blocks. Rows of 256 so K-quants need
    # no fallback. Suffixes: -pure, -imatrix (GGUF imatrix), -imatrixdat (legacy .dat), -overrides
    # (--output-tensor-type, --token-embedding-type, --tensor-type), -leave (--leave-output-tensor),
    # -keepsplit (a 3-shard input kept as 3 shards).
    spec=${case_name#quantize-}
    type=${spec%%-*} variant=${spec#"$type"}
    declare -A ftype=([Q4_0]=2 [Q4_1]=3 [Q8_0]=7 [Q5_0]=8 [Q5_1]=9 [Q2_K]=10 [Q3_K_S]=11 [Q3_K_M]=12 [Q3_K_L]=13
                      [Q4_K_S]=14 [Q4_K_M]=15 [Q5_K_S]=16 [Q4_K]=15 [Q5_K_M]=17 [Q5_K]=17 [Q6_K]=18 [Q2_K_S]=21 [IQ4_NL]=25 [IQ4_XS]=30)
    m=$work/quant-model
    (
      flock 8
      [ -f "$m.f32.gguf" ] || {
        "$maker" llama "$m" "$src/samples/tiny-llama" 256 512 8 4 2 512
        "$ckpt" convert "$m" -o "$m.f32.gguf" --outtype f32 --no-progress >/dev/null
      }
      [ -f "$m.imatrix.gguf" ] || "$maker" imatrix "$m.f32.gguf" "$m.imatrix.gguf" gguf
      [ -f "$m.imatrix.dat" ] || "$maker" imatrix "$m.f32.gguf" "$m.imatrix.dat" legacy
      [ -f "$m.imatrix-full.gguf" ] || "$maker" imatrix "$m.f32.gguf" "$m.imatrix-full.gguf" gguf-full
      [ -f "$m.split-00001-of-00003.gguf" ] || "$ckpt" convert "$m" -o "$m.split.gguf" --outtype f32 --split-max-tensors 30 --no-progress >/dev/null
    ) 8>"$work/quant-model.lock"
    pure=0 peer_opts=() flags=() input=$m.f32.gguf ref=$work/ref-$spec.gguf got=$work/ckpt-$spec.gguf
    case $variant in
      -pure) pure=1 flags=(--pure) ;;
      -imatrix) peer_opts=(imatrix="$m.imatrix.gguf") flags=(--imatrix "$m.imatrix.gguf") ;;
      -imatrixfull)
        # Q2_K_S needs an entry for every tensor it quantizes to Q2_K: both tools refuse the partial one.
        if "$ckpt" quantize "$m.f32.gguf" -o "$work/refused.gguf" --type "$type" --imatrix "$m.imatrix.gguf" --no-progress 2>"$work/refused.txt"; then
          echo "ckpt quantized $type with a partial imatrix"; exit 1
        fi
        grep -q "ffn_up.weight.*needs an importance matrix" "$work/refused.txt" || { cat "$work/refused.txt"; exit 1; }
        peer_opts=(imatrix="$m.imatrix-full.gguf") flags=(--imatrix "$m.imatrix-full.gguf") ;;
      -imatrixdat) peer_opts=(imatrix="$m.imatrix.dat") flags=(--imatrix "$m.imatrix.dat") ;;
      -overrides) peer_opts=(output=q8_0 embd=q5_0 "tt=blk\.[0-3]\.attn_v=q6_k" "tt=ffn_down=q4_1")
                  flags=(--output-tensor-type q8_0 --token-embedding-type Q5_0 --tensor-type 'blk\.[0-3]\.attn_v=q6_k' --tensor-type ffn_down=q4_1) ;;
      -leave) peer_opts=(leave-output) flags=(--leave-output-tensor) ;;
      -keepsplit) peer_opts=(keep-split) flags=(--keep-split) input=$m.split-00001-of-00003.gguf ;;
      "") ;;
      *) echo "unknown variant $variant"; exit 2 ;;
    esac
    "$peer" "$bins" quantize "$input" "$ref" "${ftype[$type]}" "$pure" 1 "${peer_opts[@]}"
    "$ckpt" quantize "$input" -o "$got" --type "$type" "${flags[@]}" --no-progress >/dev/null
    if [ "$variant" = -keepsplit ]; then
      for i in 1 2 3; do
        "$compare" "$work/ref-$spec-0000$i-of-00003.gguf" "$work/ckpt-$spec-0000$i-of-00003.gguf"
      done
    else
      "$compare" "$ref" "$got"
    fi
    ;;
  run-*)
    # ckpt's runtime and llama.cpp generate greedily from the same file (written by ckpt); the ids
    # must be equal. stories260K is a trained model (clear margins between logits); "wide" is the
    # random 256-wide model above, so K-quant types run their real kernels rather than fallbacks.
    spec=${case_name#run-}
    family=${spec%%-*} type=${spec#*-}
    prompt="Once upon a time" n=20
    # Each case builds its model in its own folder: ctest runs the types of one family in parallel, and
    # a shared folder let one case rewrite tokenizer.json while another read it.
    work=$work/$case_name
    rm -rf "$work" && mkdir -p "$work"
    case $family in
      stories)
        need_shared karpathy-stories260K/stories260K.bin
        d=$shared/karpathy-stories260K
        base=$work/run-s260.f32.gguf
        [ -f "$base" ] || "$ckpt" convert "$d/stories260K.bin" --llama2c-vocab "$d/tok512.bin" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      wide)
        base=$work/run-wide.f32.gguf
        if [ ! -f "$base" ]; then
          "$maker" llama "$work/run-wide" "$src/samples/tiny-llama" 256 512 4 4 2 512
          "$ckpt" convert "$work/run-wide" -o "$base" --outtype f32 --no-progress >/dev/null
        fi
        n=16
        ;;
      gpt2)
        need_shared lm-buddy-fake_gpt2/model.safetensors
        base=$work/run-gpt2.f32.gguf prompt="Hello world" n=8
        "$ckpt" convert "$shared/lm-buddy-fake_gpt2" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      llama3)
        # Llama 3.2's layout: rope_scaling llama3 (rope_freqs) and tied embeddings.
        base=$work/run-llama3.f32.gguf n=16
        "$maker" llama3 "$work/run-llama3" "$src/samples/tiny-llama" 256 512 4 4 2 512
        "$ckpt" convert "$work/run-llama3" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      phi3|phi3longrope)
        need_shared lm-buddy-fake_gpt2/tokenizer.json
        base=$work/run-$family.f32.gguf prompt="Hello world" n=12
        kind=phi3; [ $family = phi3longrope ] && kind=phi3-longrope
        "$maker" $kind "$work/run-$family" "$shared/lm-buddy-fake_gpt2" 256 512 2 4 2 50257
        # --name: llama.cpp special-cases vocabularies of models *named* phi3 (it expects Phi-3's <s>, </s>).
        "$ckpt" convert "$work/run-$family" -o "$base" --outtype f32 --name tiny-random --no-progress >/dev/null
        ;;
      nemo)
        # Mistral-Nemo's layout: head_dim is not hidden / heads (Q/K permuted with it).
        base=$work/run-nemo.f32.gguf n=16
        "$maker" mistral-nemo "$work/run-nemo" "$src/samples/tiny-llama" 256 512 4 4 2 512
        "$ckpt" convert "$work/run-nemo" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      gptneox|gptneoxserial)
        # GPT-NeoX (polyglot-ko's layout): fused per-head QKV regrouped, partial rotary, LayerNorm biases.
        need_shared lm-buddy-fake_gpt2/tokenizer.json
        base=$work/run-$family.f32.gguf prompt="Hello world" n=12
        kind=gptneox; [ $family = gptneoxserial ] && kind=gptneox-serial
        "$maker" $kind "$work/run-$family" "$shared/lm-buddy-fake_gpt2" 256 512 2 4 4 50257
        "$ckpt" convert "$work/run-$family" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      exaone|exaone4|exaone4swa)
        # EXAONE 3.5 (GPT-2-style names, llama3 rope_freqs, tied) and 4.0 (post-norms only, q/k norms); exaone4swa
        # is the 32B's 64-layer layout: sliding windows of 4 on 3 of every 4 layers, no rope on the others.
        base=$work/run-$family.f32.gguf n=16 layers=4 hidden=256 ff=512 kind=$family
        [ $family = exaone4swa ] && { layers=64 hidden=64 ff=128 kind=exaone4; }
        "$maker" $kind "$work/run-$family" "$src/samples/tiny-llama" $hidden $ff $layers 4 2 512
        "$ckpt" convert "$work/run-$family" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      gemma2|gemma3)
        # Gemma: norms stored as 1 + w, post-norms, GELU gate, soft-capping (Gemma 2), a sliding window of
        # 6 that the 8-token prompt already crosses, q/k norms and the local rope base (Gemma 3).
        base=$work/run-$family.f32.gguf n=16
        "$maker" $family "$work/run-$family" "$src/samples/tiny-llama" 256 512 4 4 2 512
        "$ckpt" convert "$work/run-$family" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      qwen3)
        need_shared lm-buddy-fake_gpt2/tokenizer.json
        base=$work/run-qwen3.f32.gguf prompt="Hello world" n=12
        "$maker" qwen3 "$work/run-qwen3" "$shared/lm-buddy-fake_gpt2" 256 512 2 4 2 50257
        "$ckpt" convert "$work/run-qwen3" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      qwen2yarn)
        need_shared lm-buddy-fake_gpt2/tokenizer.json
        base=$work/run-qwen2yarn.f32.gguf prompt="Hello world" n=12
        "$maker" qwen2-yarn "$work/run-qwen2yarn" "$shared/lm-buddy-fake_gpt2" 256 512 2 4 2 50257
        "$ckpt" convert "$work/run-qwen2yarn" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      qwen2)
        need_shared lm-buddy-fake_gpt2/tokenizer.json
        base=$work/run-qwen2.f32.gguf prompt="Hello world" n=12
        "$maker" qwen2 "$work/run-qwen2" "$shared/lm-buddy-fake_gpt2" 256 512 2 4 2 50257
        "$ckpt" convert "$work/run-qwen2" -o "$base" --outtype f32 --no-progress >/dev/null
        ;;
      *) echo "unknown family $family"; exit 2 ;;
    esac
    model=$base
    if [ "$type" != f32 ] && [ "$type" != "$family" ]; then
      model=$work/run-$spec.gguf
      "$ckpt" quantize "$base" -o "$model" --type "$type" --no-progress >/dev/null
    fi
    want=$(greedy "$model" "$prompt" $n | sed -n 's/^generated ids: //p' | tr ' ' ',')
    got=$("$ckpt" run "$model" -p "$prompt" -n $n --greedy --no-special --ignore-eos --no-echo --print-ids -c 256 2>&1 >/dev/null |
          sed -n 's/^generated ids: \[\(.*\)\]$/\1/p')
    echo "llama.cpp: [$want]"; echo "ckpt run:  [$got]"
    [ -n "$want" ]
    if [ "$family" = stories ] || [ "$family" = gpt2 ]; then
      [ "$got" = "$want" ]  # trained / tiny models: clear margins, the free-running ids must be identical
    else
      # Random models have near-flat logits: step along llama.cpp's ids and accept a different pick
      # only where ckpt's own logits call it a near-tie (< 3% of their standard deviation; 8-bit
      # activations alone move these logits by 1-2% of their norm, see the float64 tests).
      "$agreement" "$model" "$prompt" "$want" 0.03
    fi
    ;;
  bert)
    # An encoder (klue/bert-base's layout, its own WordPiece vocabulary) converted by ckpt: llama.cpp
    # loads it, tokenizes as WordPiece does (lowercase, punctuation split, longest match; ids worked out
    # by hand from make_test_checkpoint's vocabulary) and computes a finite embedding.
    "$maker" bert "$work/bert"
    "$ckpt" convert "$work/bert" -o "$work/bert.gguf" --outtype f16 --no-progress >/dev/null
    out=$("$peer" "$bins" embed "$work/bert.gguf" "Hello worlds, the catty!")
    other=$("$peer" "$bins" embed "$work/bert.gguf" "the cat")
    echo "$out"; echo "$other"
    echo "$out" | grep -qx "ids: 2 5 6 56 10 7 8 9 11 3"   # [CLS] hello world ##s , the cat ##ty ! [SEP]
    echo "$other" | grep -qx "ids: 2 7 8 3"
    echo "$out" | grep -Eq "^embedding:( -?[0-9]+\.[0-9]+){4}$"
    [ "$(echo "$out" | grep embedding)" != "$(echo "$other" | grep embedding)" ]
    ;;
  t5)
    # An encoder-decoder (t5-small's layout: shared embedding saved twice, relative attention biases,
    # its own Unigram spiece.model) converted by ckpt: llama.cpp loads it, tokenizes as SentencePiece
    # does (extra spaces removed, "</s>" appended; ids worked out by hand from the fixture's pieces),
    # runs the encoder and greedy decoder steps.
    "$maker" t5 "$work/t5"
    "$ckpt" convert "$work/t5" -o "$work/t5.gguf" --outtype f16 --no-progress >/dev/null
    out=$("$peer" "$bins" seq2seq "$work/t5.gguf" "hello  worlds the cat" 6)
    echo "$out"
    echo "$out" | grep -qx "ids: 3 4 26 5 6 1"   # ▁hello ▁world s ▁the ▁cat </s>
    echo "$out" | grep -Eq "^generated ids:( [0-9]+){6}$"
    ;;
  chat-templates)
    # The real chat templates in llama.cpp's bundle (models/templates), rendered by ckpt's Jinja
    # interpreter, against the prompts transformers' apply_chat_template gives for the same messages
    # (recorded here; Llama 3.2's date fixed through date_string).
    templates=$(dirname "$peer")/llama.cpp/models/templates
    ctx='{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"What is GGUF?"}],"add_generation_prompt":true,"bos_token":"<s>","eos_token":"</s>","date_string":"26 Jul 2024"}'
    user_only='{"messages":[{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"What is GGUF?"}],"add_generation_prompt":true,"bos_token":"<bos>","eos_token":"<eos>"}'
    llama3='"<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is GGUF?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"'
    chatml='"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi!<|im_end|>\n<|im_start|>user\nWhat is GGUF?<|im_end|>\n<|im_start|>assistant\n"'
    fails=0
    check() {  # TEMPLATE CONTEXT EXPECTED_JSON_STRING
      got=$("$render" "$templates/$1.jinja" "$2" 2>&1) || true
      if [ "$got" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  got:  $got"; echo "  want: $3"; fails=$((fails + 1)); fi
    }
    check meta-llama-Llama-3.1-8B-Instruct "$ctx" "$llama3"
    check meta-llama-Llama-3.2-3B-Instruct "$ctx" "$llama3"
    check meta-llama-Llama-3.3-70B-Instruct "$ctx" "$llama3"
    check Qwen-Qwen2.5-7B-Instruct "$ctx" "$chatml"
    check Qwen-Qwen3-0.6B "$ctx" "$chatml"
    check microsoft-Phi-3.5-mini-instruct "$ctx" '"<|system|>\nBe brief.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi!<|end|>\n<|user|>\nWhat is GGUF?<|end|>\n<|assistant|>\n"'
    check mistralai-Mistral-Nemo-Instruct-2407 "$ctx" '"<s>[INST]Hello[/INST]Hi!</s>[INST]Be brief.\n\nWhat is GGUF?[/INST]"'
    check Mistral-Small-3.2-24B-Instruct-2506 "$ctx" '"<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]Hello[/INST]Hi!</s>[INST]What is GGUF?[/INST]"'
    check google-gemma-2-2b-it "$user_only" '"<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi!<end_of_turn>\n<start_of_turn>user\nWhat is GGUF?<end_of_turn>\n<start_of_turn>model\n"'
    [ $fails = 0 ]
    ;;
  lora-*)
    # A PEFT adapter (rsLoRA + a rank/alpha pattern for lora-rslora: scales llama.cpp's one alpha cannot
    # hold, folded into lora_b) on the random 256-wide llama: llama.cpp applying ckpt's GGUF LoRA at run
    # time (llama_adapter_lora_init) must generate the ids llama.cpp generates from ckpt's merged GGUF,
    # and ckpt run --lora the same ids.
    kind=${case_name#lora-}
    m=$work/lora-model
    if [ ! -f "$m.f32.gguf" ]; then
      "$maker" llama "$m" "$src/samples/tiny-llama" 256 512 4 4 2 512
      "$ckpt" convert "$m" -o "$m.f32.gguf" --outtype f32 --no-progress >/dev/null
    fi
    rm -rf "$work/adapter-$kind"
    "$maker" lora "$work/adapter-$kind" "$m" "$kind"
    "$ckpt" convert "$work/adapter-$kind" --base "$m" -o "$work/adapter-$kind.gguf" --outtype f32 --no-progress >/dev/null
    "$ckpt" merge "$m.f32.gguf" "$work/adapter-$kind" -o "$work/merged-$kind.gguf" --no-progress >/dev/null
    prompt="Once upon a time" n=16
    applied=$(greedy "$m.f32.gguf" "$prompt" $n "$work/adapter-$kind.gguf" 1.0 | sed -n 's/^generated ids: //p' | tr ' ' ',')
    merged=$(greedy "$work/merged-$kind.gguf" "$prompt" $n | sed -n 's/^generated ids: //p' | tr ' ' ',')
    plain=$(greedy "$m.f32.gguf" "$prompt" $n | sed -n 's/^generated ids: //p' | tr ' ' ',')
    ours=$("$ckpt" run "$m.f32.gguf" --lora "$work/adapter-$kind" -p "$prompt" -n $n --greedy --no-special --ignore-eos --no-echo --print-ids -c 256 2>&1 >/dev/null |
           sed -n 's/^generated ids: \[\(.*\)\]$/\1/p')
    echo "llama.cpp + ckpt's GGUF LoRA: [$applied]"; echo "llama.cpp on ckpt's merge:    [$merged]"
    echo "ckpt run --lora:              [$ours]"; echo "llama.cpp, no adapter:        [$plain]"
    [ -n "$applied" ] && [ "$applied" = "$merged" ] && [ "$ours" = "$merged" ]
    [ "$applied" != "$plain" ]  # the adapter changes the output, so the comparison means something
    ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "ok: $case_name"
