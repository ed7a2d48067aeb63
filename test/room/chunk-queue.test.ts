import { describe, expect, it } from 'vitest';
import { ChunkQueue } from '../../src/room/chunk-queue.js';

async function drain<T>(queue: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of queue) out.push(item);
  return out;
}

describe('ChunkQueue', () => {
  it('hands out pushed chunks in order, also those pushed while the reader waits, then ends', async () => {
    const queue = new ChunkQueue<number>();
    queue.push(1);
    const read = drain(queue);
    queue.push(2);
    queue.end();
    expect(await read).toEqual([1, 2]);
  });

  it('rejects the reader with the failure after the chunks before it', async () => {
    const queue = new ChunkQueue<number>();
    queue.push(1);
    queue.fail(new Error('stream broke'));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of queue) seen.push(item);
      })(),
    ).rejects.toThrow('stream broke');
    expect(seen).toEqual([1]);
  });

  it('can be read once: a second reader gets RR_ROOM_STREAM_READ_TWICE', async () => {
    const queue = new ChunkQueue<number>();
    queue.end();
    expect(await drain(queue)).toEqual([]);
    expect(() => queue[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'RR_ROOM_STREAM_READ_TWICE' }));
  });
});
