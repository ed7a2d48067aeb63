/**
 * Emulator-only control routes that disable and enable a room (not MeshAgent's REST: the platform keeps a
 * room's desired state in its console). A disabled room answers its websocket upgrades and REST `connect` with
 * HTTP 423, as the real server does for a room whose desired state is disabled; clients treat that as final.
 *
 *   POST /_emulator/rooms/:room/disable  → {room}   (ends the running session, closes every connection with 1000)
 *   POST /_emulator/rooms/:room/enable   → {room}
 */
import type { FastifyInstance } from 'fastify';
import { RoomrunnerError } from '../errors.js';

/** A room's state as the switch routes report it (a structural subset of `RoomInfo`). */
export interface SwitchableRoomInfo {
  readonly name: string;
  readonly disabled?: boolean;
}

/** What the switch routes need from the room server (`RoomServer` satisfies it). */
export interface SwitchableRooms {
  disableRoom(name: string): SwitchableRoomInfo;
  enableRoom(name: string): SwitchableRoomInfo;
}

/** Registers the two routes on the control-route plugin; `checkName` refuses a bad room name with a 400. */
export function registerRoomSwitchRoutes(control: FastifyInstance, rooms: SwitchableRooms, checkName: (room: string) => void): void {
  control.post('/rooms/:room/disable', async (request) => {
    const { room } = request.params as { room: string };
    checkName(room);
    return { room: rooms.disableRoom(room) };
  });

  control.post('/rooms/:room/enable', async (request) => {
    const { room } = request.params as { room: string };
    checkName(room);
    return { room: rooms.enableRoom(room) };
  });
}

/** The error a disabled room's REST `connect` answers (HTTP 423, the SDKs' wording). */
export function roomDisabled(room: string, message: string): RoomrunnerError {
  return new RoomrunnerError('RR_EMULATOR_ROOM_DISABLED', message, { data: { room } });
}
