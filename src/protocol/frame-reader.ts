/**
 * Reassembles MeshAgent messages from frames, docs/protocol.md §D.1.
 *
 * The reader follows the official clients' state machine `ready → processing → ready`: a header frame (packet
 * index 0) always resets it; a data frame with an unexpected id or index, or one that arrives while no message is
 * in progress, puts it in an error state that drops frames until the next header frame. It never throws: every
 * problem comes back as a {@link FrameReadResult} of kind `error`, so a socket can report it and keep reading.
 * Memory is bounded by `maxMessageBytes`: a message that announces or accumulates more is refused and its frames
 * are dropped without buffering.
 */
import { RoomrunnerError } from '../errors.js';
import { CHUNK_SIZE_BYTES, DATA_FRAME_PREFIX_BYTES, HEADER_FRAME_PREFIX_BYTES, readMessageId } from './frames.js';
import { wholeNumber } from '../util/options.js';

/** Default ceiling on one reassembled message: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A complete message. */
export interface FrameMessage {
  readonly id: number;
  readonly type: string;
  readonly data: Uint8Array;
}

export type FrameReadResult =
  | { readonly kind: 'message'; readonly message: FrameMessage }
  | { readonly kind: 'error'; readonly error: RoomrunnerError; readonly id?: number; readonly type?: string };

export interface FrameReaderOptions {
  /** Largest message, in bytes of data, the reader will assemble. */
  maxMessageBytes?: number;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

type State =
  | { readonly name: 'ready' }
  | { readonly name: 'error' }
  | {
      readonly name: 'processing';
      readonly id: number;
      readonly type: string;
      readonly total: number;
      next: number;
      bytes: number;
      readonly chunks: Uint8Array[];
    };

export class FrameReader {
  readonly #maxMessageBytes: number;
  #state: State = { name: 'ready' };

  constructor(options: FrameReaderOptions = {}) {
    this.#maxMessageBytes = wholeNumber('maxMessageBytes', options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  }

  /** True while frames are being dropped until the next header frame. */
  get dropping(): boolean {
    return this.#state.name === 'error';
  }

  /**
   * Feed one frame. Returns a message when this frame completes one, an error when the frame is refused (the
   * first refused frame of a run only; later ones are dropped silently), and undefined otherwise.
   */
  push(frame: Uint8Array): FrameReadResult | undefined {
    if (frame.length < DATA_FRAME_PREFIX_BYTES) {
      return this.#fail(new RoomrunnerError('RR_FRAME_TOO_SHORT', `frame of ${frame.length} bytes is shorter than ${DATA_FRAME_PREFIX_BYTES}`));
    }
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const id = readMessageId(view, 0);
    const index = view.getUint32(8, false);
    return index === 0 ? this.#header(frame, view, id) : this.#data(frame, id, index);
  }

  #header(frame: Uint8Array, view: DataView, id: number): FrameReadResult | undefined {
    if (frame.length < HEADER_FRAME_PREFIX_BYTES) {
      return this.#fail(new RoomrunnerError('RR_FRAME_TOO_SHORT', `header frame of ${frame.length} bytes is shorter than ${HEADER_FRAME_PREFIX_BYTES}`), id);
    }
    const total = view.getUint32(12, false);
    const type = decoder.decode(frame.subarray(HEADER_FRAME_PREFIX_BYTES));
    // Official senders use 1024-byte chunks, so N frames announce up to N KiB. Refuse what cannot fit at once.
    if (total > Math.ceil(this.#maxMessageBytes / CHUNK_SIZE_BYTES)) {
      return this.#fail(this.#tooLarge(total * CHUNK_SIZE_BYTES, true), id, type);
    }
    if (total === 0) {
      this.#state = { name: 'ready' };
      return { kind: 'message', message: { id, type, data: new Uint8Array(0) } };
    }
    this.#state = { name: 'processing', id, type, total, next: 1, bytes: 0, chunks: [] };
    return undefined;
  }

  #data(frame: Uint8Array, id: number, index: number): FrameReadResult | undefined {
    const state = this.#state;
    if (state.name === 'error') return undefined;
    if (state.name !== 'processing' || state.id !== id || state.next !== index) {
      const expected = state.name === 'processing' ? `message ${state.id} packet ${state.next}` : 'a header frame';
      return this.#fail(
        new RoomrunnerError('RR_FRAME_OUT_OF_ORDER', `got message ${id} packet ${index}, expected ${expected}; dropping to the next header frame`, {
          data: { id, index },
        }),
        id,
      );
    }
    const chunk = frame.subarray(DATA_FRAME_PREFIX_BYTES);
    state.bytes += chunk.length;
    if (state.bytes > this.#maxMessageBytes) {
      return this.#fail(this.#tooLarge(state.bytes, false), state.id, state.type);
    }
    // Copy: the caller may reuse the frame's buffer (ws does for some transports).
    state.chunks.push(Uint8Array.prototype.slice.call(chunk));
    if (state.next < state.total) {
      state.next += 1;
      return undefined;
    }
    this.#state = { name: 'ready' };
    return { kind: 'message', message: { id: state.id, type: state.type, data: concat(state.chunks, state.bytes) } };
  }

  #tooLarge(bytes: number, announced: boolean): RoomrunnerError {
    return new RoomrunnerError(
      'RR_MESSAGE_TOO_LARGE',
      `message ${announced ? 'announces' : 'reached'} ${bytes} bytes, more than the maximum of ${this.#maxMessageBytes}`,
      { data: { bytes, maxMessageBytes: this.#maxMessageBytes } },
    );
  }

  #fail(error: RoomrunnerError, id?: number, type?: string): FrameReadResult {
    this.#state = { name: 'error' };
    return { kind: 'error', error, ...(id === undefined ? {} : { id }), ...(type === undefined ? {} : { type }) };
  }
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
