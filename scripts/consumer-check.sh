#!/usr/bin/env bash
# The package as a consumer meets it: `npm pack` (which builds dist/), check what the tarball holds, install it into
# fresh projects, type-check a strict consumer (tsc --init defaults with skipLibCheck off), run the compiled consumer
# on plain node, run the installed CLI on the consumer's own TypeScript agent, scaffold a project with the installed
# `roomrunner init` and run its own npm test, build and dev, and require() it from CommonJS.
# Runs with whichever node is first on PATH (CI runs it on Node 20 and on Node 24).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say() { echo "consumer-check: $*"; }
fail() { echo "consumer-check: FAILED: $*" >&2; exit 1; }

say "node $(node --version), packing"
tarball="$work/$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -1)"
listing="$(tar -tzf "$tarball")"
if grep -Eq '^package/(test|bench|\.ci|scripts|src|agents|node_modules)/' <<<"$listing"; then fail "the tarball holds files it must not: $(grep -E '^package/(test|bench|\.ci|scripts|src|agents|node_modules)/' <<<"$listing" | head -5 | tr '\n' ' ')"; fi
for f in package/package.json package/LICENSE package/README.md package/CHANGELOG.md package/dist/index.js package/dist/index.d.ts package/bin/roomrunner.js; do
  grep -qx "$f" <<<"$listing" || fail "the tarball lacks $f"
done
size="$(stat -c %s "$tarball")"
[ "$size" -lt 1048576 ] || fail "the tarball is $size bytes (limit 1 MiB)"
say "tarball $(basename "$tarball"): $(wc -l <<<"$listing") files, $size bytes"

# --- an ESM TypeScript consumer, strict ---
app="$work/app"
mkdir -p "$app/src" "$app/agents"
cd "$app"
npm init -y >/dev/null
npm pkg set type=module
npm install --no-audit --no-fund --silent "$tarball" typescript@latest >/dev/null
npx tsc --init >/dev/null
node -e '
  const fs = require("fs");
  const text = fs.readFileSync("tsconfig.json", "utf8").replace(/^\s*\/\/.*$/gm, "").replace(/,(\s*[}\]])/g, "$1");
  const config = JSON.parse(text);
  Object.assign(config.compilerOptions, { skipLibCheck: false, exactOptionalPropertyTypes: true, rootDir: "src", outDir: "build" });
  config.include = ["src"];
  fs.writeFileSync("tsconfig.json", JSON.stringify(config, null, 2));
'
cat > src/main.ts <<'TS'
import { z } from 'zod';
import { createAgentHarness, defineAgent, RoomrunnerError } from 'roomrunner';
import { startEmulator } from 'roomrunner/emulator';
import { encodeFrames } from 'roomrunner/protocol';

const echo = defineAgent({
  name: 'consumer.echo',
  input: z.strictObject({ text: z.string() }),
  output: z.strictObject({ text: z.string(), length: z.int() }),
  run: ({ text }) => ({ text, length: text.length }),
});
const room = createAgentHarness([echo]);
const answer: { text: string; length: number } = await room.call('consumer.echo', { text: 'hello' });
let refused = '';
try {
  // @ts-expect-error the harness is typed by agent name: text is a string (and the agent refuses 42 at run time)
  await room.call('consumer.echo', { text: 42 });
} catch (error) {
  if (error instanceof RoomrunnerError) refused = error.code;
}
const emulator = await startEmulator({ port: 0, secret: 'consumer-secret', projectId: 'consumer' });
const listening = emulator.url.startsWith('http://');
await emulator.close();
console.log(JSON.stringify({ answer, refused, listening, frames: typeof encodeFrames }));
TS
say "type-checking a strict consumer with TypeScript $(npx tsc --version)"
npx tsc -p . || fail "a strict consumer does not type-check"
out="$(node build/main.js)"
[ "$out" = '{"answer":{"text":"hello","length":5},"refused":"RR_ROOM_SERVER_ERROR","listening":true,"frames":"function"}' ] || fail "the compiled consumer printed: $out"
say "compiled consumer on plain node: $out"

cat > agents/greeter.ts <<'TS'
import { z } from 'zod';
import { defineAgent } from 'roomrunner';

export const greeter = defineAgent({
  name: 'consumer.greeter',
  input: z.strictObject({ name: z.string() }),
  output: z.strictObject({ greeting: z.string() }),
  run: ({ name }: { name: string }) => ({ greeting: `hello ${name}` }),
});
TS
listed="$(npx roomrunner agents --agents agents)" || fail "roomrunner agents failed on the consumer's TypeScript agent"
grep -q 'consumer.greeter' <<<"$listed" || fail "roomrunner agents did not list consumer.greeter: $listed"
say "installed CLI loaded the consumer's .ts agent"

# --- a project made by the installed `roomrunner init`: its own tests and build pass as scaffolded ---
# Outside $app, so nothing resolves through the consumer's node_modules; its roomrunner is the tarball.
npx roomrunner init "$work/scaffolded" >/dev/null || fail "roomrunner init failed"
cd "$work/scaffolded"
npm install --no-audit --no-fund --silent "$tarball" >/dev/null || fail "the scaffolded project does not install"
npm test >"$work/scaffolded-test.log" 2>&1 || { cat "$work/scaffolded-test.log" >&2; fail "the scaffolded project's npm test fails"; }
npm run build >"$work/scaffolded-build.log" 2>&1 || { cat "$work/scaffolded-build.log" >&2; fail "the scaffolded project's npm run build fails"; }
listed="$(npx roomrunner agents --agents dist/agents)" || fail "roomrunner agents failed on the scaffolded project's built agent"
grep -q 'my.greeter' <<<"$listed" || fail "the scaffolded project's built agent is not listed: $listed"
dev="$(npm run dev --silent -- --port 0 --emulator-port 0 --exit-after-demo --data-dir "$work/scaffolded-dev" 2>&1)" || fail "the scaffolded project's npm run dev failed: $dev"
grep -q 'agents attached in room "demo"' <<<"$dev" || fail "the scaffolded project's npm run dev attached no agents: $dev"
say "roomrunner init: the scaffolded project's npm test ($(grep -E '^# (pass|fail) ' "$work/scaffolded-test.log" | tr '\n' ' '| sed 's/ $//')), npm run build and npm run dev pass"

# --- a CommonJS project (npm init's default) ---
cjs="$work/cjs"
mkdir -p "$cjs"
cd "$cjs"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$tarball" >/dev/null
out="$(node -e 'const { defineAgent } = require("roomrunner"); console.log(typeof defineAgent)' 2>&1)" || fail "require('roomrunner') from CommonJS failed: $out"
[ "$out" = function ] || fail "require('roomrunner') gave: $out"
say "require('roomrunner') works from CommonJS"
say "ok"
