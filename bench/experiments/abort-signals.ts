/**
 * Experiment behind bench/findings.md: what the agent host's per-call signal plumbing costs. Today each call
 * builds AbortSignal.any([callSignal, hostSignal]) (src/agents/host.ts #answer) and AbortSignal.any([deadline,
 * that]) plus a deadline timer (src/agents/run-call.ts runCall). The alternative links one AbortController per
 * call by hand: a listener on each source, removed when the call ends. `node --import tsx bench/experiments/abort-signals.ts`
 */
const N = Number(process.argv[2] ?? 200_000);
const host = new AbortController();
const room = new AbortController();

function today(): void {
  const callSignal = new AbortController().signal; // room-client's per-call signal
  const hostLinked = AbortSignal.any([callSignal, host.signal]);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), 60_000);
  const signal = AbortSignal.any([deadline.signal, hostLinked]);
  if (signal.aborted) throw new Error('unexpected');
  clearTimeout(timer);
}

function linked(): void {
  const callSignal = new AbortController().signal;
  const call = new AbortController();
  const onAbort = (): void => call.abort();
  callSignal.addEventListener('abort', onAbort, { once: true });
  host.signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(onAbort, 60_000);
  if (call.signal.aborted) throw new Error('unexpected');
  clearTimeout(timer);
  callSignal.removeEventListener('abort', onAbort);
  host.signal.removeEventListener('abort', onAbort);
}

async function run(label: string, fn: () => void): Promise<void> {
  for (let i = 0; i < 20_000; i++) fn();
  await new Promise((resolve) => setImmediate(resolve));
  const t = process.hrtime.bigint();
  // In batches with a turn of the event loop between them, as calls would come.
  for (let done = 0; done < N; done += 1_000) {
    for (let i = 0; i < 1_000; i++) fn();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const ns = Number(process.hrtime.bigint() - t) / N;
  console.log(`${label.padEnd(44)} ${(ns / 1000).toFixed(2)} µs per call`);
}

void room;
await run('AbortSignal.any ×2 + timer (today)', today);
await run('one AbortController linked by hand + timer', linked);
await run('AbortSignal.any ×2 + timer (today), again', today);
await run('one AbortController linked by hand, again', linked);
