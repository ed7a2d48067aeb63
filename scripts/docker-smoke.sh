#!/usr/bin/env bash
# Runs the Dockerfile's build and start commands without a Docker engine (none runs on CI machines): the deps
# stage's `npm ci --omit=dev`, the final stage's COPY lines, ENV and CMD, read from the Dockerfile itself, in a
# clean directory. Then it checks `GET /` and `GET /readyz` answer 200, and that SIGTERM stops the server cleanly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dockerfile="$root/Dockerfile"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# deps stage: COPY package.json package-lock.json ./ ; RUN npm ci --omit=dev …
cp "$root/package.json" "$root/package-lock.json" "$work/"
run_line="$(grep -m1 '^RUN npm ci' "$dockerfile" | sed 's/^RUN //')"
(cd "$work" && eval "$run_line" >/dev/null)

# final stage: every plain COPY (not --from) after the last FROM
awk 'BEGIN{stage=0} /^FROM /{stage++} stage>=2 && /^COPY / && !/--from/ {print $2, $3}' "$dockerfile" | while read -r src dst; do
  mkdir -p "$work/$(dirname "$dst")"
  cp -r "$root/$src" "$work/${dst%/}/$( [ "${dst%/}" = "." ] && basename "$src" || true)"
done
[ -d "$work/src" ] && [ -d "$work/bin" ] && [ -d "$work/agents" ] || { echo "docker-smoke: COPY lines did not produce bin/, src/, agents/"; exit 1; }
[ ! -d "$work/node_modules/vitest" ] || { echo "docker-smoke: dev dependencies were installed"; exit 1; }

# ENV lines, then the CMD's JSON array
env_line="$(grep -m1 '^ENV ' "$dockerfile" | sed 's/^ENV //')"
port="$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')"
cmd="$(grep -m1 '^CMD ' "$dockerfile" | sed 's/^CMD //' | node -e 'process.stdin.on("data",d=>console.log(JSON.parse(d).map(a=>JSON.stringify(a)).join(" ")))')"
mkdir -p "$work/data"
(
  cd "$work"
  eval "export $env_line"
  export MESHAGENT_PORT="$port" ROOMRUNNER_DATA_DIR="$work/data" MESHAGENT_WEBHOOK_SECRET=smoke-webhook-secret MESHAGENT_SECRET=smoke-secret LOG_LEVEL=warn ROOMRUNNER_LOG_PRETTY=0
  eval "exec $cmd"
) &
pid=$!

for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "docker-smoke: the server exited before it was ready"; exit 1; }
  sleep 0.5
done
root_answer="$(curl -fsS "http://127.0.0.1:$port/")"
ready_answer="$(curl -fsS "http://127.0.0.1:$port/readyz")"
[ "$root_answer" = '{"ok":true}' ] || { echo "docker-smoke: GET / answered $root_answer"; exit 1; }
echo "docker-smoke: GET / → $root_answer, GET /readyz → $ready_answer"
kill -TERM "$pid"
wait "$pid"; status=$?
pid=""
[ "$status" -eq 0 ] || { echo "docker-smoke: serve exited $status after SIGTERM"; exit 1; }
echo "docker-smoke: SIGTERM → clean exit"
