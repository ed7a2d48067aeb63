/**
 * `/mcp`: the hosted agents over MCP's streamable HTTP transport, stateless (a new MCP server and transport
 * per POST, no session id), so any replica answers any request and nothing is kept between them.
 *
 * - `POST /mcp` → the JSON-RPC exchange, answered by the SDK's StreamableHTTPServerTransport.
 * - `GET /mcp`, `DELETE /mcp` → 405 `RR_MCP_METHOD_NOT_ALLOWED`: a stateless server has no session to stream
 *   server messages on or to end (the SDK's client treats 405 on GET as "no stream").
 * - A token is set: every method needs `Authorization: Bearer <token>`, else 401 `RR_MCP_UNAUTHORIZED`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Toolkit } from '../agents/define-agent.js';
import { CallLimiter } from '../agents/run-call.js';
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';
import { requireBearerToken } from '../http/app.js';
import type { Logger } from '../logger.js';
import { mcpEntries } from './mcp-entries.js';

/** Where the MCP endpoint is served. */
export const MCP_PATH = '/mcp';

/** `serverInfo.version`: the version of this MCP surface (tool naming, results), bumped when either changes shape. */
export const MCP_SERVER_VERSION = '1.0.0';

export interface McpRouteOptions {
  readonly agents: readonly Toolkit[];
  /** Bearer token every request must carry; undefined: open (only allowed with --insecure, see assertMcpToken). */
  readonly token: string | undefined;
  readonly logger: Logger;
  /** Largest request body (the webhook's limit, ROOMRUNNER_BODY_LIMIT_BYTES); larger ones get 413. */
  readonly bodyLimitBytes: number;
  /** `serverInfo.name` in the MCP handshake. */
  readonly name: string;
}

/**
 * Refuse to serve MCP without a token unless `insecure`: the endpoint runs the agents for anyone who reaches it.
 * @throws RoomrunnerError `RR_CONFIG_MCP_NO_TOKEN`.
 */
export function assertMcpToken(token: string | undefined, insecure: boolean): void {
  if ((token !== undefined && token !== '') || insecure) return;
  throw new RoomrunnerError(
    'RR_CONFIG_MCP_NO_TOKEN',
    'ROOMRUNNER_MCP is on but no token is set: set ROOMRUNNER_MCP_TOKEN (or --mcp-token), or pass --insecure to serve /mcp without one during local work',
  );
}

/**
 * The MCP SDK, loaded on the first MCP request: importing it costs about 300 ms, which every `import
 * 'roomrunner'` would pay otherwise, MCP on or off.
 */
let sdk: Promise<[typeof import('./mcp-tools.js'), typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js')]> | undefined;
function loadSdk(): NonNullable<typeof sdk> {
  sdk ??= Promise.all([import('./mcp-tools.js'), import('@modelcontextprotocol/sdk/server/streamableHttp.js')]);
  return sdk;
}

/** Adds `POST/GET/DELETE /mcp` to `app`. */
export function registerMcpRoutes(app: FastifyInstance, options: McpRouteOptions): void {
  const entries = mcpEntries(options.agents);
  const limiter = new CallLimiter();
  const logger = options.logger.child({ endpoint: 'mcp' });
  const guard = mcpGuard(options.token);

  app.post(MCP_PATH, { preHandler: guard, bodyLimit: options.bodyLimitBytes }, async (request, reply) => {
    const [{ createMcpToolServer }, { StreamableHTTPServerTransport }] = await loadSdk();
    const server = createMcpToolServer({ entries, limiter, logger, name: options.name, version: MCP_SERVER_VERSION });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    // The SDK writes the answer itself; fastify must not send one too.
    reply.hijack();
    // Closing the server aborts the handlers still running (the SDK's protocol does), so a client that goes
    // away before the answer aborts ctx.signal; after an answer it only frees the pair.
    reply.raw.on('close', () => {
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (err) {
      logger.error({ err }, 'MCP request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ ok: false, error: { code: 'RR_HTTP_INTERNAL', message: 'the MCP request failed' } }));
      }
    }
  });
  const notAllowed = async (request: FastifyRequest): Promise<never> => {
    throw new RoomrunnerError(
      'RR_MCP_METHOD_NOT_ALLOWED',
      `${request.method} ${MCP_PATH} is not served: this MCP endpoint is stateless, send each request as a POST`,
    );
  };
  app.get(MCP_PATH, { preHandler: guard }, notAllowed);
  app.delete(MCP_PATH, { preHandler: guard }, notAllowed);
}

/** The admin bearer check (constant time), answering with the MCP code and the setting that fixes it. */
function mcpGuard(token: string | undefined): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const check = requireBearerToken(token);
  return async (request, reply) => {
    try {
      await check(request, reply);
    } catch (err) {
      if (isRoomrunnerError(err, 'RR_HTTP_UNAUTHORIZED')) throw new RoomrunnerError('RR_MCP_UNAUTHORIZED', 'send Authorization: Bearer <ROOMRUNNER_MCP_TOKEN>');
      throw err;
    }
  };
}
