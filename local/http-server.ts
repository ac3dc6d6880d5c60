/**
 * The embedded default's API Gateway: a Node HTTP server that turns each request into an HTTP API
 * (payload v2) event for the same Lambda handler that serves AWS, and the answer back.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import type { Event, Result } from '../functions/handlers/http/http.js';

type Handler = (event: Event, context: never) => Promise<Result>;

export interface HttpServerOptions {
  api: Handler;
  /** requests larger than this are refused with 413 before they reach a handler */
  maxBodyBytes: number;
  /** static web UI folder, served at / */
  webRoot?: string;
  /** extra routes (the @connections endpoint); return false to fall through */
  extra?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<boolean>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.ico': 'image/x-icon',
};

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** The request's body, or null once it passes `max` (the rest is read and dropped). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve(null);
  // Events, not `for await`: an async iterator costs a promise per chunk, and runners post here
  // for every batch of log lines to every viewer.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size > max) return;
      size += c.length;
      if (size > max) resolve(null);
      else chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function toEvent(req: IncomingMessage, body: Buffer): Event {
  const url = new URL(req.url ?? '/', 'http://local');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: { method: req.method ?? 'GET', path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: body.length ? body.toString('base64') : undefined,
    isBase64Encoded: body.length > 0,
  };
}

export function createHttpServer(opts: HttpServerOptions): Server {
  return createServer((req, res) => {
    handle(req, res, opts).catch((err: Error) => {
      console.error(JSON.stringify({ level: 'ERROR', message: 'request failed', error: err.message }));
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', message: 'internal error' });
      else res.destroy();
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpServerOptions): Promise<void> {
  const body = await readBody(req, opts.maxBodyBytes);
  if (body === null) {
    res.setHeader('connection', 'close');
    sendJson(res, 413, { error: 'payload_too_large', message: `request body exceeds ${opts.maxBodyBytes} bytes` });
    req.resume();
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  if (opts.extra && (await opts.extra(req, res, body))) return;
  if (path.startsWith('/api/')) {
    const result = await opts.api(toEvent(req, body), {} as never);
    const headers = { ...(result.headers ?? {}) } as Record<string, string>;
    const payload = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
    res.writeHead(result.statusCode ?? 200, headers).end(payload);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 404, { error: 'not_found', message: 'no such route' });
  await serveStatic(res, path, opts.webRoot);
}

async function serveStatic(res: ServerResponse, path: string, root?: string): Promise<void> {
  if (!root || !existsSync(root)) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Runway</title><h1>Runway</h1><p>The API is at <code>/api/v1</code>.</p>');
    return;
  }
  const rel = normalize(decodeURIComponent(path)).replace(/^(\.\.(\/|\\|$))+/, '');
  let file = join(root, rel);
  if (!file.startsWith(root) || !existsSync(file) || rel === '/' || !extname(file)) file = join(root, 'index.html'); // SPA routes
  const data = await readFile(file);
  res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': extname(file) === '.html' ? 'no-cache' : 'max-age=300' }).end(data);
}
