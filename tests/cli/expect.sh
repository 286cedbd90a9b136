#!/usr/bin/env bash
# Runs a command and checks what a user sees: the exit code, and (for failures) that stderr is exactly
# one line matching a pattern.  Usage: expect.sh EXIT_CODE STDERR_REGEX STDOUT_REGEX -- command args...
set -u
want_code=$1 want_err=$2 want_out=$3
shift 3
[ "$1" = "--" ] && shift
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$@" >"$out" 2>"$err"
code=$?
fail() { echo "FAIL: $*"; echo "--- stdout"; head -c 2000 "$out"; echo "--- stderr"; cat "$err"; exit 1; }
[ "$code" = "$want_code" ] || fail "exit code $code, expected $want_code"
if [ -n "$want_err" ]; then
  # A failure is exactly one line; a success may report more (--verbose).
  [ "$want_code" = 0 ] || [ "$(wc -l <"$err")" = 1 ] || fail "stderr is not exactly one line"
  grep -Eq -- "$want_err" "$err" || fail "stderr does not match /$want_err/"
fi
if [ -n "$want_out" ]; then
  grep -Eq -- "$want_out" "$out" || fail "stdout does not match /$want_out/"
fi
echo "ok: exit $code"
