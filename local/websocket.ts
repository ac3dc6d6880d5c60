/**
 * The embedded default's API Gateway WebSocket API: a `ws` server on the HTTP server's `upgrade`
 * event at /ws, turning connect / message / close into API Gateway WebSocket events for the same
 * Lambda handler (functions/handlers/websocket/handler.ts), and the management endpoint that
 * runners call with the real SDK client (`@aws-sdk/client-apigatewaymanagementapi`) — this
 * server's own handlers call the same operations in process (it is their ConnectionsApi):
 *
 *   POST   /@connections/{id}   send the body as one text message → 200; unknown/closed → 410
 *                               GoneException; send buffer over the cap → 429 LimitExceededException
 *   GET    /@connections/{id}   → 200 {ConnectedAt, LastActiveAt, Identity}; unknown → 410
 *   DELETE /@connections/{id}   close it (reason from the x-runway-close-reason header) → 204
 *
 * As on AWS, message handling is not serialized per connection, a message is at most 128 KB, and
 * the route is chosen by the body's `action`. Unlike AWS, the server pings every client (30 s)
 * and ends one that does not answer; there is no 2-hour cap.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE_REASON_HEADER } from '../functions/adapters/sockets/management-api.js';
import type { ConnectionsApi, PostResult } from '../functions/core/ports.js';
import type { WebSocketEvent, WebSocketResult } from '../functions/handlers/websocket/handler.js';

type Handler = (event: WebSocketEvent, context: never) => Promise<WebSocketResult>;

export interface LocalWebSocketOptions {
  handler: Handler;
  /** the WebSocket path (GET /api/v1/meta → websocket_url) */
  path?: string;
  /** bytes a connection may have queued and unsent before posts to it answer 429 */
  sendBufferBytes?: number;
  /** ping period; a client that misses a pong is disconnected */
  pingIntervalMs?: number;
  log?: (entry: Record<string, unknown>) => void;
}

interface Connection {
  ws: WebSocket;
  connectedAt: Date;
  lastActiveAt: Date;
  sourceIp: string;
  userAgent: string;
  alive: boolean;
}

/** The routes of the WebSocket API besides $connect/$disconnect/$default (infra/constructs/log-streaming.ts). */
export const ROUTES = ['subscribe', 'ping'] as const;
const MAX_MESSAGE_BYTES = 128 * 1024;
const MANAGEMENT = /^\/@connections\/([^/?]+)$/;

export const DEFAULT_SEND_BUFFER_BYTES = 4 * 1024 * 1024;

function errorReply(res: ServerResponse, status: number, type: string, message: string) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ message, __type: type }));
}

export class LocalWebSocketGateway implements ConnectionsApi {
  readonly path: string;
  readonly sendBufferBytes: number;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly connections = new Map<string, Connection>();
  private readonly pinger: NodeJS.Timeout;
  private readonly inflight = new Set<Promise<unknown>>();
  private stopping = false;
  /** posts answered 429 because a connection's buffer was full (since start) */
  throttled = 0;

  constructor(private readonly opts: LocalWebSocketOptions) {
    this.path = opts.path ?? '/ws';
    this.sendBufferBytes = opts.sendBufferBytes ?? DEFAULT_SEND_BUFFER_BYTES;
    this.pinger = setInterval(() => this.ping(), opts.pingIntervalMs ?? 30_000);
    this.pinger.unref();
  }

  /** Takes the `upgrade` event of the HTTP server. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((err: Error) => {
        this.opts.log?.({ level: 'ERROR', message: 'websocket connect failed', error: err.message });
        refuseUpgrade(socket, 500, { error: 'internal_error', message: 'internal error' });
      });
    });
  }

  // ---------- the management API ----------
  // One implementation of its three operations, reached two ways: runners (other processes) call
  // the HTTP endpoint with the real SDK client, as they would API Gateway; this server's own
  // handlers (subscribe's replay, Finalize's `completed`) call it in process, as ConnectionsApi.

  /** PostToConnection: queues one text message unless the viewer is gone or too far behind. */
  private postTo(id: string, body: Buffer | string): PostResult | 'too_large' {
    const c = this.connections.get(id);
    if (!c || c.ws.readyState !== WebSocket.OPEN) return 'gone';
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (bytes > MAX_MESSAGE_BYTES) return 'too_large';
    if (c.ws.bufferedAmount + bytes > this.sendBufferBytes) {
      this.throttled++;
      return 'throttled';
    }
    c.ws.send(body, { binary: false });
    return 'ok';
  }

  /** DeleteConnection: false when there is no such connection. */
  private disconnectClient(id: string, reason: string): boolean {
    const c = this.connections.get(id);
    if (!c) return false;
    this.closeSocket(c, reason ? 1008 : 1000, reason || 'closed by the server');
    return true;
  }

  private isOpen(id: string): boolean {
    return this.connections.get(id)?.ws.readyState === WebSocket.OPEN;
  }

  async post(connectionId: string, data: string): Promise<PostResult> {
    const r = this.postTo(connectionId, data);
    return r === 'too_large' ? 'failed' : r;
  }

  async exists(connectionId: string): Promise<boolean> {
    return this.isOpen(connectionId);
  }

  async close(connectionId: string, reason?: string): Promise<void> {
    this.disconnectClient(connectionId, reason ?? '');
  }

  /** `extra` hook of the HTTP server: the @connections management endpoint. */
  management = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<boolean> => {
    const m = MANAGEMENT.exec((req.url ?? '').split('?')[0]);
    if (!m) return false;
    // Runners are children of this process: only loopback callers may reach viewers (AWS: IAM).
    const remote = req.socket.remoteAddress ?? '';
    if (!['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(remote)) {
      errorReply(res, 403, 'ForbiddenException', 'the @connections endpoint is for local producers only');
      return true;
    }
    const id = decodeURIComponent(m[1]);
    const gone = () => errorReply(res, 410, 'GoneException', `connection ${id} is gone`);
    switch (req.method) {
      case 'POST': {
        const r = this.postTo(id, body);
        if (r === 'gone') gone();
        else if (r === 'too_large') errorReply(res, 413, 'PayloadTooLargeException', `message of ${body.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
        else if (r === 'throttled') errorReply(res, 429, 'LimitExceededException', `connection ${id} has ${this.connections.get(id)?.ws.bufferedAmount} bytes unsent`);
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return true;
      }
      case 'GET': {
        const c = this.connections.get(id);
        if (!c || !this.isOpen(id)) return gone(), true;
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ConnectedAt: c.connectedAt.toISOString(), LastActiveAt: c.lastActiveAt.toISOString(), Identity: { SourceIp: c.sourceIp, UserAgent: c.userAgent } }));
        return true;
      }
      case 'DELETE': {
        const raw = req.headers[CLOSE_REASON_HEADER];
        if (this.disconnectClient(id, typeof raw === 'string' ? safeDecode(raw) : '')) res.writeHead(204).end();
        else gone();
        return true;
      }
      default:
        errorReply(res, 405, 'MethodNotAllowed', 'POST, GET or DELETE');
        return true;
    }
  };

  /** Open connections and their unsent bytes (tests, benchmarks). */
  stats(): { connections: number; bufferedBytes: number; throttled: number } {
    let bufferedBytes = 0;
    for (const c of this.connections.values()) bufferedBytes += c.ws.bufferedAmount;
    return { connections: this.connections.size, bufferedBytes, throttled: this.throttled };
  }

  /** Disconnects every client (each gets its $disconnect) and stops. */
  async stop(): Promise<void> {
    clearInterval(this.pinger);
    const closing = [...this.connections.values()].map((c) => new Promise((resolve) => c.ws.once('close', resolve)));
    for (const c of this.connections.values()) c.ws.terminate();
    await Promise.all(closing);
    await Promise.allSettled([...this.inflight]);
    this.stopping = true;
    this.wss.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname !== this.path) return refuseUpgrade(socket, 404, { error: 'not_found', message: `WebSocket path is ${this.path}` });
    if (this.stopping) return refuseUpgrade(socket, 503, { error: 'unavailable', message: 'stopping' });
    const connectionId = randomBytes(12).toString('base64url');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const connectedAt = new Date();
    const result = await this.track(this.opts.handler(this.event('$connect', 'CONNECT', connectionId, connectedAt, { queryStringParameters: Object.keys(query).length ? query : undefined, headers }), {} as never));
    if ((result?.statusCode ?? 200) !== 200) {
      let body: unknown = { error: 'forbidden', message: 'connection refused' };
      try {
        if (result.body) body = JSON.parse(result.body);
      } catch {
        /* keep the default */
      }
      return refuseUpgrade(socket, result.statusCode ?? 403, body);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Connection = { ws, connectedAt, lastActiveAt: connectedAt, sourceIp: req.socket.remoteAddress ?? '', userAgent: headers['user-agent'] ?? '', alive: true };
      this.connections.set(connectionId, c);
      ws.on('pong', () => (c.alive = true));
      ws.on('message', (data, isBinary) => {
        c.lastActiveAt = new Date();
        const text = isBinary ? '' : data.toString();
        this.dispatch(connectionId, connectedAt, text);
      });
      ws.on('close', () => {
        this.connections.delete(connectionId);
        this.track(this.opts.handler(this.event('$disconnect', 'DISCONNECT', connectionId, connectedAt, {}), {} as never)).catch((err: Error) =>
          this.opts.log?.({ level: 'ERROR', message: 'websocket $disconnect failed', error: err.message }),
        );
      });
      ws.on('error', () => ws.terminate());
    });
  }

  /** API Gateway's route selection on `$request.body.action`. */
  private dispatch(connectionId: string, connectedAt: Date, body: string): void {
    let action: unknown;
    try {
      action = (JSON.parse(body) as { action?: unknown })?.action;
    } catch {
      action = undefined;
    }
    const routeKey = typeof action === 'string' && (ROUTES as readonly string[]).includes(action) ? action : '$default';
    this.track(this.opts.handler(this.event(routeKey, 'MESSAGE', connectionId, connectedAt, { body }), {} as never)).catch((err: Error) =>
      this.opts.log?.({ level: 'ERROR', message: 'websocket route failed', route: routeKey, error: err.message }),
    );
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  private event(routeKey: string, eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT', connectionId: string, connectedAt: Date, extra: Partial<WebSocketEvent>): WebSocketEvent {
    const now = new Date();
    return {
      requestContext: {
        routeKey,
        messageId: randomUUID(),
        eventType,
        extendedRequestId: randomUUID(),
        requestTime: now.toUTCString(),
        messageDirection: 'IN',
        stage: 'local',
        connectedAt: connectedAt.getTime(),
        requestTimeEpoch: now.getTime(),
        requestId: randomUUID(),
        domainName: 'localhost',
        connectionId,
        apiId: 'local',
      },
      isBase64Encoded: false,
      ...extra,
    };
  }

  private closeSocket(c: Connection, code: number, reason: string): void {
    // A close frame waits behind unsent data; a viewer that stopped reading would keep it open.
    c.ws.close(code, truncateUtf8(reason, 123));
    setTimeout(() => c.ws.terminate(), 1000).unref();
  }

  private ping(): void {
    for (const c of this.connections.values()) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}

function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' }[status] ?? 'Error';
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`);
  }
  socket.destroy();
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A close reason is at most 123 bytes. */
function truncateUtf8(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
