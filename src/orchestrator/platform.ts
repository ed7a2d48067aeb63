/**
 * The slice of the platform REST API the orchestrator calls (docs/protocol.md §F): the active sessions, to
 * reconcile rooms after a lost webhook or a restart. Auth is `Authorization: Bearer <ma- API key>`, or a token
 * signed with MESHAGENT_SECRET when there is no key (the emulator accepts both).
 */
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import { errorMessage } from '../util/error-message.js';

/** How long one REST call may take. */
export const DEFAULT_PLATFORM_TIMEOUT_MS = 10_000;

const ActiveSessionsSchema = z.looseObject({
  sessions: z.array(z.looseObject({ id: z.string().optional(), room_name: z.string(), room_url: z.string().nullish(), kind: z.string().nullish() })),
});

export interface ActiveRoom {
  readonly room: string;
  readonly roomUrl: string | null;
  readonly sessionId: string | null;
}

export interface PlatformClientOptions {
  /** Base URL, e.g. `https://api.meshagent.com` (paths are resolved against its origin, as the SDKs do). */
  apiUrl: string;
  projectId: string;
  /** Returns the bearer token for each call. */
  bearer: () => string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class PlatformClient {
  readonly #options: PlatformClientOptions;

  constructor(options: PlatformClientOptions) {
    this.#options = options;
  }

  /** `GET /accounts/projects/{project}/sessions/active`. Throws RR_PLATFORM_UNAVAILABLE on any failure. */
  async activeRooms(signal?: AbortSignal): Promise<ActiveRoom[]> {
    const body = await this.#get(`/accounts/projects/${encodeURIComponent(this.#options.projectId)}/sessions/active`, signal);
    const parsed = ActiveSessionsSchema.safeParse(body);
    if (!parsed.success) {
      throw new RoomrunnerError('RR_PLATFORM_UNAVAILABLE', 'the platform answered sessions/active with an unexpected shape', { cause: parsed.error });
    }
    // Current platforms list other kinds of session too (services, containers): only room sessions have rooms to host.
    return parsed.data.sessions
      .filter((s) => s.kind === undefined || s.kind === null || s.kind === 'room')
      .map((s) => ({ room: s.room_name, roomUrl: s.room_url ?? null, sessionId: s.id ?? null }));
  }

  async #get(path: string, signal?: AbortSignal): Promise<unknown> {
    const url = new URL(path, this.#options.apiUrl.replace(/^ws/, 'http'));
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_PLATFORM_TIMEOUT_MS);
    const doFetch = this.#options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(url, {
        headers: { authorization: `Bearer ${this.#options.bearer()}`, accept: 'application/json' },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (cause) {
      throw new RoomrunnerError('RR_PLATFORM_UNAVAILABLE', `GET ${url.pathname} failed: ${errorMessage(cause)}`, { cause });
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 200);
      throw new RoomrunnerError('RR_PLATFORM_UNAVAILABLE', `GET ${url.pathname} answered ${response.status}${text ? `: ${text}` : ''}`, {
        data: { status: response.status },
      });
    }
    return response.json();
  }
}
