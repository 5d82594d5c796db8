#!/usr/bin/env bash
# smoke-images.sh — prove the built images work under mcp-lok's hardened flags.
#
# For each engine whose socket answers (or the one named by --engine):
#   1. mcp-lok/mcp-server-time over stdio answers `initialize`;
#   2. mcp-lok/http-test-server over stdio answers `initialize`;
#   3. http-test-server with MCP_TRANSPORT=streamable-http, hardened, answers
#      initialize + tools (echo, add, whoami) from inside its own network
#      namespace (`exec`), and from a second hardened container that joined it
#      (`--network container:<id>`, the way the gate works); whoami must report
#      uid 65534, no capabilities, no-new-privs and only `lo`;
#   4. the same with MCP_TRANSPORT=sse (via exec).
# Every container it starts is removed (by id) on exit. Progress on stderr.
#
# Usage: scripts/smoke-images.sh [--engine docker|podman|all]
set -euo pipefail

ENGINES=all
while [ $# -gt 0 ]; do
  case $1 in
    --engine) ENGINES=${2:?}; shift ;;
    --engine=*) ENGINES=${1#*=} ;;
    *) echo "smoke-images: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf 'smoke-images: %s\n' "$*" >&2; }
fail() { printf 'smoke-images: FAIL: %s\n' "$*" >&2; exit 1; }

declare -A SOCK=([docker]=/var/run/docker.sock [podman]=/run/podman/podman.sock)
# What mcp-lok sends for a stdio server, minus -i / --network where a test
# needs otherwise.
BASE_FLAGS=(--read-only --cap-drop ALL --security-opt no-new-privileges
  --user 65534:65534 --init --pids-limit 128 --memory 512m
  --ulimit nofile=1024:1024 --ulimit nproc=512:512)
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}'

CREATED=()  # "engine id" pairs to remove on exit
cleanup() {
  local item
  for item in "${CREATED[@]}"; do
    # shellcheck disable=SC2086 # "engine id": two words on purpose
    set -- $item
    "$1" rm -f "$2" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# check_probe ENGINE WHAT JSON: the probe client's output must show isolation.
check_probe() {
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
engine, what, raw = sys.argv[1:]
out = json.loads(raw)
who = out["calls"]["whoami"]["result"]["structuredContent"]
checks = {
    "initialize": "serverInfo" in out["initialize"]["result"],
    "echo": out["calls"]["echo"]["result"]["structuredContent"]["result"] == "hello",
    "add": out["calls"]["add"]["result"]["structuredContent"]["result"] == 5,
    "uid/gid 65534": (who["uid"], who["gid"]) == (65534, 65534),
    "no capabilities": int(who["cap_eff"], 16) == 0 and int(who["cap_bnd"], 16) == 0,
    "no-new-privs": who["no_new_privs"] is True,
    "only lo": who["interfaces"] == ["lo"],
    "root fs not writable": who["root_writable"] is False,
}
bad = [k for k, v in checks.items() if not v]
if bad:
    sys.exit(f"{engine} {what}: failed checks {bad}; whoami={who}")
print(f"smoke-images: {engine}: {what}: OK (uid {who['uid']}, ifaces {who['interfaces']}, "
      f"tmp_writable={who['tmp_writable']}, nofile={who['nofile']})", file=sys.stderr)
EOF
}

smoke_engine() {
  local e=$1 out cid
  log "$e: mcp-server-time over stdio"
  out=$(printf '%s\n' "$INIT" | "$e" run --rm "${BASE_FLAGS[@]}" --network none -i mcp-lok/mcp-server-time) \
    || fail "$e: mcp-server-time did not run"
  grep -q '"serverInfo":{"name":"mcp-time"' <<<"$out" || fail "$e: mcp-server-time: no initialize result: $out"
  log "$e: mcp-server-time: OK"

  log "$e: http-test-server over stdio"
  out=$(printf '%s\n' "$INIT" | "$e" run --rm "${BASE_FLAGS[@]}" --network none -i mcp-lok/http-test-server) \
    || fail "$e: http-test-server (stdio) did not run"
  grep -q '"serverInfo":{"name":"mcp-lok-test-server"' <<<"$out" || fail "$e: http-test-server: no initialize result: $out"
  log "$e: http-test-server stdio: OK"

  local transport
  for transport in streamable-http sse; do
    log "$e: http-test-server, MCP_TRANSPORT=$transport, hardened, --network none"
    cid=$("$e" run -d "${BASE_FLAGS[@]}" --network none -e MCP_TRANSPORT="$transport" mcp-lok/http-test-server)
    CREATED+=("$e $cid")
    out=$("$e" exec "$cid" python3 /opt/mcp-lok/app/probe_client.py --transport "$transport") \
      || { "$e" logs "$cid" >&2 || true; fail "$e: $transport: probe via exec failed: $out"; }
    check_probe "$e" "$transport via exec" "$out"
    if [ "$transport" = streamable-http ]; then
      # A second container in the server's network namespace, as the gate is.
      out=$("$e" run --rm "${BASE_FLAGS[@]}" --network "container:$cid" --entrypoint python3 \
        mcp-lok/http-test-server /opt/mcp-lok/app/probe_client.py --transport "$transport") \
        || fail "$e: $transport: probe from a joined container failed: $out"
      check_probe "$e" "$transport from a container joined with --network container:<id>" "$out"
    fi
    "$e" rm -f "$cid" >/dev/null
  done
}

answers() { curl -sf --max-time 3 --unix-socket "$1" http://localhost/version >/dev/null 2>&1; }

ran=0
for e in docker podman; do
  [ "$ENGINES" = all ] || [ "$ENGINES" = "$e" ] || continue
  if ! answers "${SOCK[$e]}"; then
    [ "$ENGINES" = all ] || fail "$e: ${SOCK[$e]} does not answer"
    log "$e: ${SOCK[$e]} does not answer; skipped"
    continue
  fi
  smoke_engine "$e"
  ran=$((ran + 1))
done
[ $ran -gt 0 ] || fail "no engine answered"
log "all smoke tests passed"
