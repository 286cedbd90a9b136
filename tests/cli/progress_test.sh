#!/usr/bin/env bash
# Progress output as users see it: through a pseudo-terminal of several widths every redrawn frame fits
# the width; TERM=dumb gives whole plain lines; off a terminal nothing unless --progress always (plain
# lines ending at 100 %, naming the tensor being written); --quiet prints neither progress nor the
# informational lines.
# Usage: progress_test.sh CKPT SAMPLE_DIR
set -u
ckpt=$1 sample=$2
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
if ! command -v script >/dev/null; then echo "skipped: no script(1) to make a pseudo-terminal"; exit 0; fi
for cols in 40 72 120; do
  script -qec "stty cols $cols; $ckpt convert $sample -o $d/t$cols.gguf" /dev/null >"$d/pty$cols" 2>&1 || fail "convert on a $cols-column terminal"
  # Frames are separated by carriage returns; erase-line sequences take no columns.
  frames=$(tr '\r' '\n' <"$d/pty$cols" | sed 's/\x1b\[K//g' | grep -c '^convert ') || true
  [ "$frames" -ge 1 ] || fail "no progress frame on a $cols-column terminal"
  too_wide=$(tr '\r' '\n' <"$d/pty$cols" | sed 's/\x1b\[K//g' | grep '^convert ' | awk -v c="$cols" 'length($0) > c - 1' | head -1)
  [ -z "$too_wide" ] || fail "a frame wider than $cols columns: $too_wide"
done
script -qec "stty cols 80; TERM=dumb $ckpt convert $sample -o $d/dumb.gguf" /dev/null >"$d/dumb" 2>&1 || fail "TERM=dumb"
grep -q $'\x1b' "$d/dumb" && fail "TERM=dumb output has escape sequences"
tr -d '\r' <"$d/dumb" | grep -q '^convert: 100% ' || fail "TERM=dumb: no plain final line"
"$ckpt" convert "$sample" -o "$d/off.gguf" 2>"$d/off.err" >/dev/null || fail "convert off a terminal"
[ -s "$d/off.err" ] && fail "progress off a terminal without --progress always: $(head -c 200 "$d/off.err")"
"$ckpt" convert "$sample" -o "$d/always.gguf" --progress always 2>"$d/always.err" >/dev/null || fail "--progress always"
grep -q $'\x1b' "$d/always.err" && fail "--progress always off a terminal drew a bar"
[ "$(tail -1 "$d/always.err" | cut -c1-14)" = "convert: 100% " ] || fail "--progress always: last line $(tail -1 "$d/always.err")"
[ "$(wc -l <"$d/always.err")" -le 11 ] || fail "--progress always printed more than one line per tenth"
grep -q 'blk\.[0-9]*\.[a-z_]*\.weight' "$d/always.err" || grep -q 'output_norm\.weight\|token_embd\.weight\|output\.weight' "$d/always.err" || fail "--progress always: no current tensor named: $(head -c 300 "$d/always.err")"
script -qec "$ckpt convert $sample -o $d/quiet.gguf --quiet" /dev/null >"$d/quiet" 2>&1 || fail "--quiet"
[ -s "$d/quiet" ] && fail "--quiet printed: $(head -c 200 "$d/quiet")"
echo "ok"
