#!/usr/bin/env bash
# tfctl's main job, end to end: a real plan → apply of the bundled `hello` example on the
# embedded SQLite store, in the workspace `hello`. The example writes its greeting to
# quickstart/hello.txt in the tfctl home ($HELLO_DIR/hello.txt if set when the workspace is
# created), never into the current directory, so a repository it runs in stays clean.
# Safe to run again: an unchanged spec is the same version and the second plan has no changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
field() { { set +x; } 2>/dev/null; python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

set -x
tfctl init
out="${HELLO_DIR:-$(tfctl init --json | field '["home"]')/quickstart}"
mkdir -p "$out"
tfctl stack push "$here/hello/stack.yaml"
tfctl workspace show hello >/dev/null 2>&1 \
  || tfctl workspace create hello --stack hello --var "output_file=$out/hello.txt"
tfctl plan hello
tfctl apply hello --auto-approve
tfctl state show hello
cat "$(tfctl state outputs hello --json | field '["file"]["value"]')"
