#!/usr/bin/env bash
# tfctl's main job, end to end: a real plan → apply of the bundled `hello` example on the
# embedded SQLite store. Writes hello.txt into the current directory (or $HELLO_DIR).
# Safe to run again: an unchanged spec is the same version and the second plan has no changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(cd "${HELLO_DIR:-$PWD}" && pwd)"

set -x
tfctl init
tfctl stack push "$here/hello/stack.yaml"
tfctl workspace show hello >/dev/null 2>&1 \
  || tfctl workspace create hello --stack hello --var "output_file=$out/hello.txt"
tfctl plan hello
tfctl apply hello --auto-approve
tfctl state show hello
cat "$out/hello.txt"
