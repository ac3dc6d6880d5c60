/**
 * The embedded default's WebSocket API (local/websocket.ts) as API Gateway behaves: events of the
 * WebSocket API's shape for the handler, and the `@connections` endpoint answering the real
 * `@aws-sdk/client-apigatewaymanagementapi` client (through ManagementApiConnections).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { ManagementApiConnections } from '../../functions/adapters/sockets/management-api.js';
import type { WebSocketEvent, WebSocketResult } from '../../functions/handlers/websocket/handler.js';
import { createHttpServer } from '../../local/http-server.js';
import { LocalWebSocketGateway } from '../../local/websocket.js';
import { Viewer } from '../support/viewer.js';

const events: WebSocketEvent[] = [];
let eventSeen: ((e: WebSocketEvent) => void) | null = null;
let gateway: LocalWebSocketGateway;
let server: Server;
let url: string;
let api: ManagementApiConnections;
const viewers: Viewer[] = [];

/** Accepts `?token=good`; echoes a `subscribe` back through the management API, as the real handler does. */
async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  events.push(event);
  eventSeen?.(event);
  const { routeKey, connectionId } = event.requestContext;
  if (routeKey === '$connect') return event.queryStringParameters?.token === 'good' ? { statusCode: 200 } : { statusCode: 401, body: JSON.stringify({ error: 'unauthorized', message: 'invalid bearer token' }) };
  if (routeKey === 'subscribe') await api.post(connectionId, JSON.stringify({ type: 'connected', echo: JSON.parse(event.body!) }));
  return { statusCode: 200 };
}

function nextEvent(routeKey: string): Promise<WebSocketEvent> {
  return new Promise((resolve) => {
    eventSeen = (e) => {
      if (e.requestContext.routeKey === routeKey) {
        eventSeen = null;
        resolve(e);
      }
    };
  });
}

async function connect(): Promise<{ viewer: Viewer; id: string }> {
  const connected = nextEvent('$connect');
  const viewer = await Viewer.open(`${url}/ws`, 'good');
  viewers.push(viewer);
  return { viewer, id: (await connected).requestContext.connectionId };
}

beforeAll(async () => {
  gateway = new LocalWebSocketGateway({ handler: handler as never, sendBufferBytes: 64 * 1024 });
  server = createHttpServer({ api: async () => ({ statusCode: 404 }), maxBodyBytes: 1024 * 1024, extra: gateway.management });
  gateway.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  url = `ws://127.0.0.1:${port}`;
  api = new ManagementApiConnections({ endpoint: `http://127.0.0.1:${port}`, local: true });
});

afterEach(() => {
  for (const v of viewers.splice(0)) v.terminate();
});

afterAll(async () => {
  await gateway.stop();
  api.destroy();
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
});

test('connect, message and close reach the handler as API Gateway WebSocket events; routes by `action`', async () => {
  const { viewer, id } = await connect();
  const connectEvent = events.find((e) => e.requestContext.connectionId === id)!;
  expect(connectEvent.requestContext).toMatchObject({ routeKey: '$connect', eventType: 'CONNECT', connectionId: id });
  expect(connectEvent.queryStringParameters).toEqual({ token: 'good' });

  const sub = nextEvent('subscribe');
  viewer.subscribe(5, 10);
  expect((await sub).body).toBe('{"action":"subscribe","task_id":5,"after_line":10}');
  expect(await viewer.waitFor((m) => m.type === 'connected', 'echo')).toMatchObject({ echo: { task_id: 5, after_line: 10 } });

  for (const body of ['{"action":"nope"}', 'not json']) {
    const other = nextEvent('$default');
    viewer.send(body);
    expect((await other).body).toBe(body);
  }

  const gone = nextEvent('$disconnect');
  await viewer.close();
  expect((await gone).requestContext).toMatchObject({ eventType: 'DISCONNECT', connectionId: id });
});

test('a refused $connect never opens the socket; the handler\'s status and body come back', async () => {
  await expect(Viewer.open(`${url}/ws`, 'bad')).rejects.toMatchObject({ status: 401, body: '{"error":"unauthorized","message":"invalid bearer token"}' });
  await expect(Viewer.open(`${url}/elsewhere`, 'good')).rejects.toMatchObject({ status: 404 });
});

test('POST /@connections/{id} sends one text message; unknown or closed connections answer 410 GoneException', async () => {
  const { viewer, id } = await connect();
  expect(await api.post(id, '{"type":"hello"}')).toBe('ok');
  expect(await viewer.waitFor((m) => m.type === 'hello', 'hello')).toEqual({ type: 'hello' });
  expect(await api.exists(id)).toBe(true);

  // The plain SDK client sees the modelled exception.
  const raw = new ApiGatewayManagementApiClient({ endpoint: url.replace('ws:', 'http:'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await expect(raw.send(new PostToConnectionCommand({ ConnectionId: 'no-such-connection', Data: Buffer.from('{}') }))).rejects.toBeInstanceOf(GoneException);
  raw.destroy();
  expect(await api.post('no-such-connection', '{}')).toBe('gone');
  expect(await api.exists('no-such-connection')).toBe(false);

  await viewer.close();
  expect(await api.post(id, '{}')).toBe('gone');
});

test('DELETE /@connections/{id} closes the socket, with the reason the caller gave', async () => {
  const a = await connect();
  await api.close(a.id, 'too many viewers on this run');
  expect(await a.viewer.closed).toEqual({ code: 1008, reason: 'too many viewers on this run' });
  const b = await connect();
  await api.close(b.id);
  expect(await b.viewer.closed).toEqual({ code: 1000, reason: 'closed by the server' });
  await expect(api.close('no-such-connection')).resolves.toBeUndefined();
});

test('a connection that stops reading fills its send buffer: posts answer 429 (LimitExceededException), others are unaffected', async () => {
  const slow = await connect();
  const fast = await connect();
  slow.viewer.stall();
  const frame = JSON.stringify([{ type: 'output', line: 'x'.repeat(30_000), line_num: 1 }]);
  let answer = 'ok';
  let posts = 0;
  // Kernel buffers take some first; then the server-side buffer passes its cap (64 KB here).
  while (answer === 'ok' && posts < 2000) {
    answer = await api.post(slow.id, frame);
    posts++;
  }
  expect(answer).toBe('throttled');
  expect(gateway.stats().throttled).toBeGreaterThan(0);
  expect(await api.post(fast.id, '{"type":"still here"}')).toBe('ok');
  expect(await fast.viewer.waitFor((m) => m.type === 'still here', 'a message')).toBeTruthy();
});
