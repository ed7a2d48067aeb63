/** Session history of the emulated platform, for `GET /sessions…` (docs/protocol.md §F). */

/** Sessions kept after they end, for `GET /sessions/:id`. */
export const DEFAULT_ENDED_SESSIONS_KEPT = 1_000;

/** One room session: from the first participant (or a control `start`) until the room empties or ends. */
export interface SessionRecord {
  readonly id: string;
  readonly roomName: string;
  readonly roomUrl: string;
  /** ms since the epoch */
  readonly startedAt: number;
  readonly endedAt: number | null;
}

/**
 * Session history for `GET /sessions…`. The room server reports starts and ends through its hooks; the
 * composition (./emulator.ts) forwards them here.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #now: () => number;
  readonly #keep: number;

  constructor(options: { now?: () => number; keepEnded?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#keep = options.keepEnded ?? DEFAULT_ENDED_SESSIONS_KEPT;
  }

  started(room: { name: string; sessionId: string; url: string }): SessionRecord {
    const record: SessionRecord = { id: room.sessionId, roomName: room.name, roomUrl: room.url, startedAt: this.#now(), endedAt: null };
    this.#sessions.set(record.id, record);
    return record;
  }

  ended(room: { name: string; sessionId: string }): SessionRecord | undefined {
    const current = this.#sessions.get(room.sessionId);
    if (current === undefined) return undefined;
    const record: SessionRecord = { ...current, endedAt: this.#now() };
    this.#sessions.set(record.id, record);
    this.#prune();
    return record;
  }

  get(id: string): SessionRecord | undefined {
    return this.#sessions.get(id);
  }

  /** Every session kept, oldest first. */
  list(): SessionRecord[] {
    return [...this.#sessions.values()];
  }

  #prune(): void {
    let ended = [...this.#sessions.values()].filter((record) => record.endedAt !== null).length;
    for (const record of this.#sessions.values()) {
      if (ended <= this.#keep) break;
      if (record.endedAt === null) continue;
      this.#sessions.delete(record.id);
      ended--;
    }
  }
}
