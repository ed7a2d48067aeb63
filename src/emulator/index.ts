/**
 * `roomrunner/emulator`: a local MeshAgent-compatible platform for tests and development — room websockets
 * the official `RoomClient` can join, the REST subset roomrunner calls, and signed webhooks with retries and
 * a delivery log. A subpath so `import … from 'roomrunner'` never loads it (docs/architecture.md §Style 6).
 */
export { startEmulator, DEFAULT_EMULATOR_HOST, DEFAULT_CLOSE_GRACE_MS } from './emulator.js';
export type { Emulator, EmulatorWebhookOptions, StartEmulatorOptions } from './emulator.js';

export { RoomServer, DEFAULT_IDLE_GRACE_MS, DEFAULT_PING_INTERVAL_MS } from './room-server.js';
export type {
  EmulatorEvent,
  EmulatorEventKind,
  EmulatorEventListener,
  ParticipantInfo,
  RoomCallRequest,
  RoomInfo,
  RoomServerHooks,
  RoomServerOptions,
  ToolkitInfo,
  WaitForEventOptions,
} from './room-server.js';

export {
  WebhookSender,
  WEBHOOK_PING_EVENT,
  WILDCARD_EVENT,
  DEFAULT_SIGNATURE_SCHEME,
  DEFAULT_WEBHOOK_RETRIES,
  DEFAULT_WEBHOOK_MIN_TIMEOUT_MS,
  DEFAULT_WEBHOOK_MAX_TIMEOUT_MS,
  DEFAULT_WEBHOOK_JITTER,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  DEFAULT_DELIVERY_LOG_SIZE,
  generateWebhookSecret,
} from './webhook-sender.js';
export type {
  DeliveryAttempt,
  DeliveryRecord,
  DeliverySigning,
  DeliveryStatus,
  WebhookSenderOptions,
  WebhookSubscription,
  WebhookSubscriptionInput,
} from './webhook-sender.js';

export {
  buildEmulatorApp,
  registerEmulatorRoutes,
  PLATFORM_PREFIX,
  CONTROL_PREFIX,
  UNVERIFIED_TOKEN_SECRET,
} from './platform-api.js';
export type { EmulatorAppDeps, ErrorBody, PlatformRoomInfo, PlatformRooms } from './platform-api.js';
export { SessionRegistry, DEFAULT_ENDED_SESSIONS_KEPT, type SessionRecord } from './platform-sessions.js';
export { authenticate } from './platform-auth.js';
