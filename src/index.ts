/**
 * roomrunner's public entry: explicit named exports only (docs/architecture.md §Style 6). The emulator and the protocol
 * codec live on subpaths (`roomrunner/emulator`, `roomrunner/protocol`) so this entry loads neither.
 */
export { RoomrunnerError, isRoomrunnerError, ERROR_CATALOG, CONTENT_CODES, type ErrorCode } from './errors.js';
export {
  defineAgent,
  defineTool,
  defineToolkit,
  isToolkit,
  AGENT_TOOL_NAME,
  DEFAULT_AGENT_TIMEOUT_MS,
  DEFAULT_AGENT_CONCURRENCY,
  DEFAULT_AGENT_MAX_QUEUE,
  type Agent,
  type AgentContext,
  type AgentDefinition,
  type Tool,
  type ToolDefinition,
  type Toolkit,
  type ToolkitDefinition,
} from './agents/define-agent.js';
export { TypedAgent, type TypedAgentOptions } from './agents/class-agent.js';
export { createAgentHarness, type AgentHarness, type AgentHarnessOptions } from './agents/testing.js';
export { AgentHost, joinRoom, toolkitRegistration, type JoinedRoom, type JoinRoomOptions } from './agents/host.js';
export { discoverAgents, type DiscoveredAgent } from './agents/discover.js';
export { WebhookServer, assertWebhookSecret, type WebhookServerOptions, type HookContext } from './server/webhook-server.js';
export { RoomStartedEvent, RoomEndedEvent, CallEvent, OtherEvent, PingEvent, type WebhookEvent } from './webhooks/events.js';
export { RemoteTaskRunnerServer, type RemoteTaskRunnerServerOptions } from './orchestrator/runner-server.js';
export { createRoomrunner, type Roomrunner, type RoomrunnerParts } from './roomrunner.js';
export type { Orchestrator } from './orchestrator/orchestrator.js';
export { RoomWorkers, roomWorkerData, type RoomWorkersOptions } from './orchestrator/room-workers.js';
export type { WebhookReceiver, ServerAddress } from './server/receiver.js';
export { RoomConnection, type RoomConnectionOptions } from './room/connection.js';
export { RoomClient } from './room/room-client.js';
export { mintParticipantToken, verifyParticipantToken, parseApiKey } from './auth/token.js';
export { loadConfig, type Config } from './config.js';
export { MemoryStore } from './store/memory-store.js';
export { openStore } from './store/open-store.js';
export type { Store } from './store/store.js';
export { createLogger, type Logger } from './logger.js';
export type { Content } from './protocol/content.js';
