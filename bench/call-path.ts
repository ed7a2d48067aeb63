/**
 * Call path: the OFFICIAL @meshagent/meshagent client invokes the Adder through the emulator
 * (client → room server → our agent host → room server → client), against a raw two-hop websocket echo of
 * the same bytes (client → relay → echo → relay → client). Both paths have the same shape and the same process
 * layout: client in the driver; room server and relay in one child; agent host and echo server in another.
 * The echo is sent the exact frames the official client sent for one invoke, captured from its socket.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { JsonContent, RoomClient as OfficialRoomClient } from '@meshagent/meshagent';
import WebSocket from 'ws';
import { BENCH_DIR, PROFILE_DIR, startChild } from './lib/child.js';
import { clearProfiles, newestProfile, profileMarkdown, summarizeProfile } from './lib/profile.js';
import { sleep, summarize } from './lib/stats.js';
import type { BenchOptions, BenchResult, Figure } from './lib/types.js';
import { FrameReader } from '../src/protocol/frame-reader.js';
import { agentDefaultApiScope, mintParticipantToken } from '../src/auth/token.js';

const SECRET = 'bench-call-room-secret';
const ROOM = 'call-path';
const WARMUP_CALLS = 300;
const SEQUENTIAL_CALLS = 2_000;
const IN_FLIGHT = 100;
const THROUGHPUT_S = 5;
const P50_RATIO_TARGET = 1.5;
/** Calls per second with 100 in flight, as a share of the echo's. */
const THROUGHPUT_RATIO_TARGET = 0.6;
/** CPU of our agent host per call, in µs. */
const HOST_CPU_TARGET_US = 15;

type Official = typeof import('@meshagent/meshagent');

/** One call: resolves with its round trip in ms. */
type Call = () => Promise<number>;

interface PathFigures {
  readonly rtt: number[];
  readonly callsPerSecond: number;
  readonly inFlightRtt: number[];
  /** CPU time per call during the in-flight phase, µs, by process: client (driver), middle (room server / relay), far (agent / echo). */
  readonly cpuPerCall: { client: number; middle: number; far: number };
}

type CpuSampler = () => Promise<{ client: NodeJS.CpuUsage; middle: NodeJS.CpuUsage; far: NodeJS.CpuUsage }>;

async function measure(call: Call, cpu: CpuSampler): Promise<PathFigures> {
  for (let i = 0; i < WARMUP_CALLS; i++) await call();
  const rtt: number[] = [];
  for (let i = 0; i < SEQUENTIAL_CALLS; i++) rtt.push(await call());
  const inFlightRtt: number[] = [];
  let done = 0;
  const cpuBefore = await cpu();
  const deadline = performance.now() + THROUGHPUT_S * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < deadline) {
        inFlightRtt.push(await call());
        done += 1;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpuAfter = await cpu();
  const per = (k: 'client' | 'middle' | 'far'): number => (cpuAfter[k].user + cpuAfter[k].system - cpuBefore[k].user - cpuBefore[k].system) / done;
  return { rtt, callsPerSecond: done / elapsed, inFlightRtt, cpuPerCall: { client: per('client'), middle: per('middle'), far: per('far') } };
}

/** Captures what `ws` sockets in this process send while `work` runs. */
async function captureSends(ws: { prototype: { send: (...args: unknown[]) => void } }, work: () => Promise<void>): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  const original = ws.prototype.send;
  ws.prototype.send = function (this: unknown, data: unknown, ...rest: unknown[]) {
    frames.push(Buffer.from(data as Uint8Array));
    return original.call(this, data, ...rest);
  };
  try {
    await work();
  } finally {
    ws.prototype.send = original;
  }
  return frames;
}

/** A raw echo client over one socket: each call sends `frames` and waits for as many messages back (FIFO). */
async function echoClient(url: string, frames: readonly Buffer[]): Promise<{ call: Call; close: () => void }> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const waiting: Array<{ left: number; resolve: () => void }> = [];
  socket.on('message', () => {
    const head = waiting[0];
    if (!head) return;
    head.left -= 1;
    if (head.left === 0) {
      waiting.shift();
      head.resolve();
    }
  });
  const call: Call = () =>
    new Promise<number>((resolve) => {
      const t = performance.now();
      waiting.push({ left: frames.length, resolve: () => resolve(performance.now() - t) });
      for (const frame of frames) socket.send(frame, { binary: true });
    });
  return { call, close: () => socket.close() };
}

/**
 * A raw client that replays the official client's invoke frames into the room and waits for the answer (a
 * `__response__` message, reassembled with our FrameReader). It isolates the room server + agent part of the
 * path from the official client's own cost. One call at a time only: every replay reuses the same message id.
 */
async function replayClient(url: string, frames: readonly Buffer[]): Promise<{ call: Call; close: () => void }> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const reader = new FrameReader();
  let waiting: (() => void) | undefined;
  socket.on('message', (data: Buffer) => {
    const result = reader.push(data);
    if (result?.kind === 'message' && result.message.type === '__response__' && waiting) {
      const done = waiting;
      waiting = undefined;
      done();
    }
  });
  // Let the handshake messages (room_ready, connected) arrive first.
  await sleep(200);
  const call: Call = () =>
    new Promise<number>((resolve) => {
      const t = performance.now();
      waiting = () => resolve(performance.now() - t);
      for (const frame of frames) socket.send(frame, { binary: true });
    });
  return { call, close: () => socket.close() };
}

async function sequential(call: Call): Promise<number[]> {
  for (let i = 0; i < WARMUP_CALLS; i++) await call();
  const rtt: number[] = [];
  for (let i = 0; i < SEQUENTIAL_CALLS; i++) rtt.push(await call());
  return rtt;
}

export async function runCallPath(options: BenchOptions): Promise<BenchResult> {
  const started = Date.now();
  delete process.env['MESHAGENT_API_KEY'];
  const require = createRequire(import.meta.url);
  // The ESM build of @meshagent/meshagent 0.39.9 is broken; its CommonJS build works.
  const official = require('@meshagent/meshagent') as Official;
  // The same `ws` module the official client's isomorphic-ws uses.
  const wsModule = require('ws') as { prototype: { send: (...args: unknown[]) => void } };

  if (options.profile) {
    clearProfiles(join(PROFILE_DIR, 'call-emulator'));
    clearProfiles(join(PROFILE_DIR, 'call-agent'));
  }
  const emulator = await startChild('emulator-process.ts', { name: 'call-emulator', profile: options.profile });
  const agent = await startChild('agent-process.ts', { name: 'call-agent', profile: options.profile });
  let client: OfficialRoomClient | undefined;
  let echo: { call: Call; close: () => void } | undefined;
  try {
    const { wsUrl } = await emulator.call<{ wsUrl: string }>('start', { secret: SECRET });
    const roomUrl = `${wsUrl}/rooms/${ROOM}`;
    await agent.call('join', { url: roomUrl, room: ROOM, secret: SECRET });
    const { url: echoUrl } = await agent.call<{ url: string }>('startEcho');
    const { url: relayUrl } = await emulator.call<{ url: string }>('startRelay', { target: echoUrl });

    const token = mintParticipantToken({ name: 'caller', room: ROOM, role: 'user', secret: SECRET, api: agentDefaultApiScope() });
    const room = new official.RoomClient({ protocolFactory: official.WebSocketClientProtocol.createFactory({ url: roomUrl, token }) });
    client = room;
    room.ready.catch(() => undefined);
    await room.start();
    const invoke = async (): Promise<JsonContent> =>
      (await room.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } })) as JsonContent;

    const first = await invoke();
    if ((first.json as { result?: number }).result !== 3) throw new Error(`the Adder answered ${JSON.stringify(first.json)}`);
    await sleep(50);
    const frames = await captureSends(wsModule, async () => {
      await invoke();
    });
    const frameBytes = frames.map((f) => f.length);
    options.log(`  one invoke = ${frames.length} frame(s) from the official client: ${frameBytes.join(', ')} bytes`);

    const officialCall: Call = async () => {
      const t = performance.now();
      await invoke();
      return performance.now() - t;
    };
    echo = await echoClient(relayUrl, frames);
    // Echo first, then the official path; the same sequence of phases for both.
    const cpu: CpuSampler = async () => {
      const [middle, far] = await Promise.all([emulator.call<NodeJS.CpuUsage>('cpu'), agent.call<NodeJS.CpuUsage>('cpu')]);
      return { client: process.cpuUsage(), middle, far };
    };
    const base = await measure(echo.call, cpu);
    const ours = await measure(officialCall, cpu);
    const cpuText = (p: PathFigures): string =>
      `client ${p.cpuPerCall.client.toFixed(0)} µs, middle ${p.cpuPerCall.middle.toFixed(0)} µs, far end ${p.cpuPerCall.far.toFixed(0)} µs`;
    options.log(`  CPU per call at ${IN_FLIGHT} in flight — echo: ${cpuText(base)}; official: ${cpuText(ours)}`);
    const replay = await replayClient(`${roomUrl}?token=${encodeURIComponent(token)}`, frames);
    const replayed = summarize(await sequential(replay.call));
    replay.close();
    options.log(`  replay:   p50 ${replayed.p50.toFixed(3)} ms  (the official client's frames from a raw socket through the emulator and our agent)`);
    const b = summarize(base.rtt);
    const o = summarize(ours.rtt);
    const bi = summarize(base.inFlightRtt);
    const oi = summarize(ours.inFlightRtt);
    options.log(
      `  echo:     p50 ${b.p50.toFixed(3)} ms  p99 ${b.p99.toFixed(3)} ms  ${base.callsPerSecond.toFixed(0)} calls/s at ${IN_FLIGHT} in flight (p50 ${bi.p50.toFixed(1)} ms)`,
    );
    options.log(
      `  official: p50 ${o.p50.toFixed(3)} ms  p99 ${o.p99.toFixed(3)} ms  ${ours.callsPerSecond.toFixed(0)} calls/s at ${IN_FLIGHT} in flight (p50 ${oi.p50.toFixed(1)} ms)`,
    );

    const figures: Figure[] = [
      {
        name: 'round trip p50, one call at a time',
        value: o.p50,
        unit: 'ms',
        baseline: b.p50,
        baselineLabel: 'two-hop ws echo',
        target: { kind: 'ratio-max', max: P50_RATIO_TARGET },
        note: `${SEQUENTIAL_CALLS} sequential calls after ${WARMUP_CALLS} warm-up; p99 ${o.p99.toFixed(2)} ms vs echo ${b.p99.toFixed(2)} ms`,
      },
      {
        name: 'round trip p99, one call at a time',
        value: o.p99,
        unit: 'ms',
        baseline: b.p99,
        baselineLabel: 'two-hop ws echo',
        target: { kind: 'info' },
      },
      {
        name: 'round trip p50, same frames replayed by a raw client',
        value: replayed.p50,
        unit: 'ms',
        baseline: b.p50,
        baselineLabel: 'two-hop ws echo',
        target: { kind: 'info' },
        note: 'the official client replaced by a raw ws socket replaying its frames: what the room server and our agent host add to the echo, without the official client',
      },
      {
        name: `throughput, ${IN_FLIGHT} calls in flight`,
        value: ours.callsPerSecond,
        unit: 'calls/s',
        baseline: base.callsPerSecond,
        baselineLabel: 'two-hop ws echo',
        target: { kind: 'ratio-min', min: THROUGHPUT_RATIO_TARGET },
        note:
          `${THROUGHPUT_S} s each; round trip under that load p50 ${oi.p50.toFixed(1)} ms, p99 ${oi.p99.toFixed(1)} ms (echo p50 ${bi.p50.toFixed(1)} ms, p99 ${bi.p99.toFixed(1)} ms). ` +
          `CPU per call — official path: official client ${ours.cpuPerCall.client.toFixed(0)} µs, room server ${ours.cpuPerCall.middle.toFixed(0)} µs, our agent host ${ours.cpuPerCall.far.toFixed(0)} µs; ` +
          `echo path: client ${base.cpuPerCall.client.toFixed(0)} µs, relay ${base.cpuPerCall.middle.toFixed(0)} µs, echo ${base.cpuPerCall.far.toFixed(0)} µs`,
      },
      {
        name: `agent host CPU per call, ${IN_FLIGHT} calls in flight`,
        value: ours.cpuPerCall.far,
        unit: 'µs',
        baseline: base.cpuPerCall.far,
        baselineLabel: 'the echo server answering the same frames',
        target: { kind: 'below', max: HOST_CPU_TARGET_US },
        note: 'process CPU (user + system) of the agent process during the in-flight phase, divided by the calls answered',
      },
    ];
    const notes = [
      `The official client (@meshagent/meshagent, CommonJS build) calls \`samples.adder\`/\`ask\` with \`{a: 1, b: 2}\` through the emulator; our ` +
        `agent host (joinRoom, the orchestrator's code path) answers from another process. Baseline: a \`ws\` client sends the ${frames.length} ` +
        `frame(s) the official client sent for one invoke (${frameBytes.join(', ')} bytes, captured from its socket) to a relay in the emulator's ` +
        `process, which forwards them to an echo server in the agent's process and back; a call ends when all ${frames.length} come back. ` +
        `The throughput target reads "at most 1.5×" as at least 1/1.5 = 0.67 of the echo's calls per second.`,
    ];
    if (options.profile) {
      for (const [name, title] of [
        ['call-emulator', 'the emulator (room server + relay)'],
        ['call-agent', 'the agent host (+ echo server)'],
      ] as const) {
        await (name === 'call-emulator' ? emulator : agent).close();
        const file = newestProfile(join(PROFILE_DIR, name));
        if (file) notes.push(profileMarkdown(`CPU profile of ${title}`, summarizeProfile(file, join(BENCH_DIR, '..')), join(BENCH_DIR, '..')));
      }
    }
    return { id: 'call-path', title: 'Call path', date: new Date(started).toISOString(), durationMs: Date.now() - started, status: 'ran', figures, notes };
  } finally {
    echo?.close();
    client?.dispose();
    await agent.close();
    await emulator.close();
  }
}
