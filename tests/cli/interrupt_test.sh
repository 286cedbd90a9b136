#!/usr/bin/env bash
# Fault tests: SIGINT, SIGTERM and kill -9 at spread-out moments of convert, quantize, --to hf and
# split writes. After each: the destination is absent or complete (ckpt inspect accepts it), the input
# is byte-identical, and no temporary is left, except after kill -9, where the next run to the same
# destination must remove it. Usage: interrupt_test.sh CKPT BAD_FILES_DIR
set -u
ckpt=$1
bad=$2
work=$bad/interrupt
rm -rf "$work"
mkdir -p "$work"
input=$bad/big-llama
failures=0
interrupted_mid_write=0  # kill -9 runs that really left a temporary (the test must exercise that path)
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
checksum() { cat "$input"/* | cksum; }
temporaries() { find "$work" -name '.*.ckpt-tmp-*' -o -name '.*.ckpt-stage-*'; }
now() { date +%s.%N; }

# A converted f16 GGUF for the GGUF-input operations (not interrupted).
"$ckpt" convert "$input" -o "$work/big-f16.gguf" --no-progress >/dev/null || { echo "FAIL: setup convert"; exit 1; }
before=$(checksum)
gguf_before=$(cksum <"$work/big-f16.gguf")

run_op() {  # op -> the command line; its destination is $dest
  case $1 in
    convert) dest=$work/out.gguf; cmd=("$ckpt" convert "$input" -o "$dest" -t 1 --no-progress) ;;
    quantize) dest=$work/q.gguf; cmd=("$ckpt" quantize "$work/big-f16.gguf" -o "$dest" --type q4_k_m -t 1 --no-progress) ;;
    to_hf) dest=$work/hf; cmd=("$ckpt" convert "$work/big-f16.gguf" --to hf -o "$dest" --force -t 1 --no-progress) ;;
    split) dest=$work/split.gguf; cmd=("$ckpt" convert "$input" -o "$dest" --split-max-size 40M -t 1 --no-progress) ;;
  esac
}

destination_ok() {  # absent, or complete
  case $1 in
    split)
      local first=$work/split-00001-of-00006.gguf
      if ls "$work"/split-0000*-of-*.gguf >/dev/null 2>&1; then "$ckpt" inspect "$first" >/dev/null 2>&1; else true; fi ;;
    to_hf) [ ! -e "$dest" ] || "$ckpt" inspect "$dest" >/dev/null 2>&1 ;;
    *) [ ! -e "$dest" ] || "$ckpt" inspect "$dest" >/dev/null 2>&1 ;;
  esac
}

for op in convert quantize to_hf split; do
  run_op "$op"
  rm -rf "$dest" "$work"/split-*
  t0=$(now)
  "${cmd[@]}" >/dev/null 2>&1 || fail "$op: uninterrupted run failed"
  duration=$(echo "$(now) $t0" | awk '{print $1 - $2}')
  destination_ok "$op" || fail "$op: uninterrupted output does not inspect"
  for sig in INT TERM KILL; do
    for fraction in 0.1 0.4 0.7; do
      rm -rf "$dest" "$work"/split-*
      delay=$(echo "$duration $fraction" | awk '{print $1 * $2}')
      "${cmd[@]}" >/dev/null 2>&1 &
      pid=$!
      sleep "$delay"
      kill -s "$sig" "$pid" 2>/dev/null
      wait "$pid"
      destination_ok "$op" || fail "$op: SIG$sig after ${delay}s left a broken destination"
      if [ "$sig" != KILL ]; then
        [ -z "$(temporaries)" ] || fail "$op: SIG$sig after ${delay}s left temporaries: $(temporaries)"
      else
        [ -z "$(temporaries)" ] || interrupted_mid_write=$((interrupted_mid_write + 1))
        "${cmd[@]}" >/dev/null 2>&1 || fail "$op: the run after kill -9 failed"
        destination_ok "$op" || fail "$op: the run after kill -9 left a broken destination"
        [ -z "$(temporaries)" ] || fail "$op: the run after kill -9 did not clean: $(temporaries)"
      fi
    done
  done
  echo "ok: $op (uninterrupted ${duration}s)"
done
[ "$(checksum)" = "$before" ] || fail "the input checkpoint changed"
[ "$(cksum <"$work/big-f16.gguf")" = "$gguf_before" ] || fail "the input GGUF changed"
rm -rf "$work"
[ "$interrupted_mid_write" -gt 0 ] || fail "no kill -9 landed while a temporary existed: the test exercised nothing"
[ "$failures" = 0 ] || { echo "$failures failures"; exit 1; }
echo "ok: every interrupted run left its destination absent or whole and its input untouched ($interrupted_mid_write kill -9 mid-write, each cleaned by the next run)"
