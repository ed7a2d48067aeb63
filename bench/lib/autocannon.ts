/** autocannon 8 (CommonJS, no bundled types): the small part of its API the benches use, typed here. */
import { createRequire } from 'node:module';

export interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
  onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
}

export interface AutocannonOptions {
  url: string;
  method?: string;
  connections?: number;
  duration?: number;
  amount?: number;
  pipelining?: number;
  requests?: AutocannonRequest[];
  expectBody?: string;
  timeout?: number;
}

interface Histogram {
  readonly average: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly total: number;
}

export interface AutocannonResult {
  readonly requests: Histogram & { readonly sent: number };
  readonly latency: Histogram;
  readonly errors: number;
  readonly timeouts: number;
  readonly mismatches: number;
  readonly non2xx: number;
  readonly duration: number;
  readonly '2xx': number;
}

type Autocannon = (options: AutocannonOptions) => Promise<AutocannonResult>;

export const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
