import { describe, expect, it } from 'vitest';
import { CallEvent, OtherEvent, PING_EVENTS, PingEvent, RoomEndedEvent, RoomStartedEvent, parseEvent, roomOf } from '../../src/webhooks/events.js';
import { codeOf } from '../support/errors.js';

describe('parseEvent', () => {
  it('turns room.started into a RoomStartedEvent and keeps extra keys', () => {
    const event = parseEvent({
      event: 'room.started',
      data: { room_name: 'r1', room_url: 'wss://api.meshagent.com/rooms/r1', session_id: 's1', project_id: 'p1' },
    });
    expect(event).toBeInstanceOf(RoomStartedEvent);
    const started = event as RoomStartedEvent;
    expect(started.roomName).toBe('r1');
    expect(started.roomUrl).toBe('wss://api.meshagent.com/rooms/r1');
    expect(started.sessionId).toBe('s1');
    expect(started.data['project_id']).toBe('p1');
  });

  it('accepts room.started without room_url (older senders) and a top-level session_id', () => {
    const event = parseEvent({ event: 'room.started', session_id: 'top', data: { room_name: 'r1' } }) as RoomStartedEvent;
    expect(event.roomUrl).toBeUndefined();
    expect(event.sessionId).toBe('top');
    expect(event.envelope['session_id']).toBe('top');
  });

  it('turns room.ended into a RoomEndedEvent', () => {
    const event = parseEvent({ event: 'room.ended', data: { room_name: 'r1' } });
    expect(event).toBeInstanceOf(RoomEndedEvent);
    expect(roomOf(event)).toBe('r1');
  });

  it('turns room.call into a CallEvent whose JSON form hides the token', () => {
    const event = parseEvent({
      event: 'room.call',
      data: { room_name: 'r1', room_url: 'wss://x/rooms/r1', token: 'secret.jwt.value', arguments: { foo: 'bar' } },
    }) as CallEvent;
    expect(event).toBeInstanceOf(CallEvent);
    expect(event.token).toBe('secret.jwt.value');
    expect(event.arguments).toStrictEqual({ foo: 'bar' });
    expect(JSON.stringify(event)).not.toContain('secret.jwt.value');
  });

  it('reads absent or null room.call arguments as null', () => {
    const data = { room_name: 'r1', room_url: 'wss://x/rooms/r1', token: 't' };
    expect((parseEvent({ event: 'room.call', data }) as CallEvent).arguments).toBeNull();
    expect((parseEvent({ event: 'room.call', data: { ...data, arguments: null } }) as CallEvent).arguments).toBeNull();
  });

  it('turns any other event into an OtherEvent with its data', () => {
    const event = parseEvent({ event: 'storage.file.updated', data: { path: '/a', participant_id: 'p' } });
    expect(event).toBeInstanceOf(OtherEvent);
    expect(event.event).toBe('storage.file.updated');
    expect(roomOf(event)).toBeNull();
  });

  it('recognises both ping names, with or without data', () => {
    expect(PING_EVENTS).toStrictEqual(['webhook.ping', 'ping']);
    expect(parseEvent({ event: 'webhook.ping', data: { webhook_id: 'w1' } })).toBeInstanceOf(PingEvent);
    expect(parseEvent({ event: 'ping' })).toBeInstanceOf(PingEvent);
  });

  it('refuses bodies that are not envelopes', () => {
    for (const body of [null, [], 'room.started', 3, {}, { event: '' }, { event: 3 }, { data: {} }, { event: 'x', data: [] }, { event: 'x', data: 'y' }]) {
      expect(
        codeOf(() => parseEvent(body)),
        JSON.stringify(body),
      ).toBe('RR_WEBHOOK_ENVELOPE_INVALID');
    }
  });

  it('refuses a known event whose data lacks a required field, naming the field', () => {
    expect(codeOf(() => parseEvent({ event: 'room.started', data: {} }))).toBe('RR_WEBHOOK_ENVELOPE_INVALID');
    expect(codeOf(() => parseEvent({ event: 'room.ended' }))).toBe('RR_WEBHOOK_ENVELOPE_INVALID');
    try {
      parseEvent({ event: 'room.call', data: { room_name: 'r', room_url: 'wss://x/rooms/r', token: 42 } });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('token');
      expect((err as Error).message).not.toContain('42');
    }
  });
});
