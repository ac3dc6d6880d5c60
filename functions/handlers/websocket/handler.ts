/**
 * The WebSocket API's Lambda (live logs, SPEC §6): one function for every route, switched on
 * `requestContext.routeKey` (the route selection expression is `$request.body.action`):
 *   $connect     authorizes `?token=` (a refusal never opens the socket)
 *   $disconnect  forgets the connection and its subscription
 *   subscribe    {"action":"subscribe","task_id":<id>,"after_line":<n>} (core/viewers.ts)
 *   ping         {"action":"ping"} → {"type":"pong"}: keeps API Gateway's 10-minute idle close away
 *   $default     anything else → {"type":"request_error","error":"unknown_action"}
 * The embedded default calls this same handler with events of the same shape (local/websocket.ts).
 * Everything sent to a viewer goes through the management API (deps.connections).
 */
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import type { Deps } from '../../core/deps.js';
import { connect, DEFAULT_VIEWER_LIMITS, disconnect, pong, subscribe, unknownAction, type ViewerLimits } from '../../core/viewers.js';
import { getDeps } from '../../services.js';

export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & { headers?: Record<string, string | undefined> };
export type WebSocketResult = APIGatewayProxyStructuredResultV2;

function positive(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/** VIEWER_LIMIT_PER_USER (10) and VIEWER_LIMIT_PER_TASK (100), as seed 001 sets them. */
export function viewerLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): ViewerLimits {
  return {
    perUser: positive(env.VIEWER_LIMIT_PER_USER, DEFAULT_VIEWER_LIMITS.perUser),
    perTask: positive(env.VIEWER_LIMIT_PER_TASK, DEFAULT_VIEWER_LIMITS.perTask),
  };
}

function parseBody(event: WebSocketEvent): unknown {
  if (!event.body) return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const ok: WebSocketResult = { statusCode: 200 };

export async function route(deps: Deps, event: WebSocketEvent): Promise<WebSocketResult> {
  const { routeKey, connectionId } = event.requestContext;
  switch (routeKey) {
    case '$connect': {
      const r = await connect(deps, connectionId, event.queryStringParameters?.token);
      if (r.ok) return ok;
      return { statusCode: r.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: r.error, message: r.message }) };
    }
    case '$disconnect':
      await disconnect(deps, connectionId);
      return ok;
    case 'subscribe':
      await subscribe(deps, connectionId, parseBody(event), viewerLimitsFromEnv());
      return ok;
    case 'ping':
      await pong(deps, connectionId);
      return ok;
    default: {
      const body = parseBody(event) as { action?: unknown } | undefined;
      await unknownAction(deps, connectionId, body && typeof body === 'object' ? body.action : undefined);
      return ok;
    }
  }
}

export const handler = middy<WebSocketEvent, WebSocketResult>().handler(async (event) => {
  try {
    return await route(getDeps(), event);
  } catch (err) {
    const { routeKey, connectionId } = event.requestContext;
    console.error(JSON.stringify({ level: 'ERROR', message: 'websocket route failed', route: routeKey, connection_id: connectionId, error: (err as Error).message }));
    if (routeKey !== '$connect' && routeKey !== '$disconnect') {
      await getDeps()
        .connections?.post(connectionId, JSON.stringify({ type: 'request_error', error: 'internal_error', message: 'internal error; try again' }))
        .catch(() => undefined);
    }
    return { statusCode: 500 };
  }
});
