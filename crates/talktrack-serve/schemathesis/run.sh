#!/usr/bin/env bash
# Runs schemathesis against the committed OpenAPI document and a real
# `talktrack serve` on 127.0.0.1: no 5xx answer and no answer outside the schema.
#
# Installs schemathesis into a virtual environment of its own (VENV, by default
# target/schemathesis-venv) from the package registry; builds the `talktrack`
# binary as the workspace's test build does (`cargo test --no-run`: the same
# feature set, so nothing is compiled twice after the README's test command). MAX_EXAMPLES (default 25) bounds the examples per operation.
set -euo pipefail
cd "$(dirname "$0")/../../.."

VENV=${VENV:-target/schemathesis-venv}
MAX_EXAMPLES=${MAX_EXAMPLES:-25}
PORT=${PORT:-18181}

if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.*'
fi

cargo test --quiet --workspace --all-features --no-run
target/debug/talktrack serve --bundle policies/telecom-upsell --addr "127.0.0.1:$PORT" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done

"$VENV/bin/st" run crates/talktrack-serve/openapi.json \
  --url "http://127.0.0.1:$PORT" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES"
