import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { roomNameFromUrl, roomUrl } from '../../src/room/url.js';

describe('roomUrl', () => {
  it('turns https into wss and appends /rooms/<room> (§C)', () => {
    expect(roomUrl('https://api.meshagent.com', 'myroom')).toBe('wss://api.meshagent.com/rooms/myroom');
  });

  it('turns http into ws and keeps the port', () => {
    expect(roomUrl('http://127.0.0.1:8080', 'test')).toBe('ws://127.0.0.1:8080/rooms/test');
  });

  it('keeps ws and wss bases and any path prefix, without doubling slashes', () => {
    expect(roomUrl('wss://example.com/api/', 'r')).toBe('wss://example.com/api/rooms/r');
    expect(roomUrl('ws://example.com', 'r')).toBe('ws://example.com/rooms/r');
  });

  it('percent-encodes room names that would otherwise break the URL', () => {
    expect(roomUrl('https://h', 'a b/c?d')).toBe('wss://h/rooms/a%20b%2Fc%3Fd');
    expect(roomNameFromUrl(roomUrl('https://h', 'a b/c?d'))).toBe('a b/c?d');
  });

  it('accepts a full room URL as it is, with or without the matching name', () => {
    expect(roomUrl('wss://api.meshagent.com/rooms/myroom')).toBe('wss://api.meshagent.com/rooms/myroom');
    expect(roomUrl('https://api.meshagent.com/rooms/myroom', 'myroom')).toBe('wss://api.meshagent.com/rooms/myroom');
  });

  it('refuses a room URL that names another room', () => {
    expect(() => roomUrl('wss://h/rooms/a', 'b')).toThrow(/names room "a", not "b"/);
  });

  it('refuses relative URLs, other schemes and a base without a room', () => {
    for (const bad of [() => roomUrl('/rooms/x', 'x'), () => roomUrl('ftp://h', 'x'), () => roomUrl('https://h')]) {
      try {
        bad();
        expect.unreachable();
      } catch (error) {
        expect(isRoomrunnerError(error, 'RR_ROOM_URL_INVALID')).toBe(true);
      }
    }
  });
});

describe('roomNameFromUrl', () => {
  it('reads the name of a room URL and nothing else', () => {
    expect(roomNameFromUrl('wss://h/rooms/x')).toBe('x');
    expect(roomNameFromUrl('wss://h/rooms/x/')).toBe('x');
    expect(roomNameFromUrl('wss://h/other')).toBeUndefined();
    expect(roomNameFromUrl('not a url')).toBeUndefined();
  });
});
