/**
 * The thin HTTP layer: API Gateway (HTTP API, payload v2) events in, `{statusCode, headers, body}`
 * out. Parses and validates input against the core's schemas, maps every error to SPEC §2's
 * `{error, message}`.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { z, ZodError } from 'zod';
import { authenticate, type Principal } from '../../core/auth.js';
import type { Deps } from '../../core/deps.js';
import { ApiError, badRequest, tooLarge } from '../../core/errors.js';
import { getDeps } from '../../services.js';

export type Event = APIGatewayProxyEventV2;
export type Result = Exclude<APIGatewayProxyResultV2, string>;

export interface Request {
  event: Event;
  deps: Deps;
  params: Record<string, string>;
  query: Record<string, string>;
  /** set when the route requires authentication (all but health and meta) */
  principal: Principal;
  /** on routes that also take run-task access tokens: the bearer when it is not a user's token */
  runTaskBearer: string | null;
  body(): Buffer;
  json<S extends z.ZodType>(schema: S): z.infer<S>;
  header(name: string): string | undefined;
}

export const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): Result => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  body: JSON.stringify(body),
});

export const text = (body: string, headers: Record<string, string> = {}): Result => ({
  statusCode: 200,
  headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
  body,
});

export const binary = (body: Buffer, headers: Record<string, string>): Result => ({
  statusCode: 200,
  headers,
  body: body.toString('base64'),
  isBase64Encoded: true,
});

/** `a.b: message` for the first issue, so the client knows which field is wrong. */
export function describeZodError(err: ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => {
      const path = i.path.join('.');
      if (i.code === 'unrecognized_keys') return `${i.keys.join(', ')}: unknown field${i.keys.length > 1 ? 's' : ''}`;
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join('; ');
}

export function errorResult(err: unknown): Result {
  if (err instanceof ApiError) return json(err.status, { error: err.code, message: err.message });
  if (err instanceof ZodError) return json(400, { error: 'validation_error', message: describeZodError(err) });
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 404) return json(404, { error: 'not_found', message: 'no such route' });
  if (status === 405) return json(405, { error: 'method_not_allowed', message: 'method not allowed on this route' });
  console.error(JSON.stringify({ level: 'ERROR', message: 'unhandled error', error: (err as Error)?.message, stack: (err as Error)?.stack }));
  return json(500, { error: 'internal_error', message: 'internal error' });
}

function header(event: Event, name: string): string | undefined {
  const n = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === n) return v;
  return undefined;
}

/** A path parameter, percent-decoded; malformed encoding (`%E0%A4%A`) is the client's error: 400 naming it. */
function decodePathParameter(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`${name}: malformed percent-encoding in the path`);
  }
}

export type RouteFn = (req: Request) => Promise<Result>;

/** Wraps a route: authentication (unless public), body access with limits, error mapping. */
export interface RouteOptions {
  /** no bearer token needed (health, meta, the run-task callback which checks its own) */
  public?: boolean;
  /** also accepts run-task access tokens (the route checks them) */
  runTaskToken?: boolean;
  /** audit action recorded when the call succeeds (SPEC §7: every change anyone makes) */
  audit?: string;
}

export function route(fn: RouteFn, opts: RouteOptions = {}) {
  return async (event: Event): Promise<Result> => {
    try {
      const deps = getDeps();
      const authorization = header(event, 'authorization');
      let principal = undefined as unknown as Principal;
      let runTaskBearer: string | null = null;
      if (!opts.public) {
        // Run-task access tokens (rtt_…) are never users' tokens; the route checks them itself.
        const bearer = /^Bearer\s+(rtt_\S+)\s*$/i.exec(authorization ?? '')?.[1];
        if (opts.runTaskToken && bearer) runTaskBearer = bearer;
        else principal = await authenticate(deps.store, authorization);
      }
      let raw: Buffer | null = null;
      const body = () => {
        raw ??= event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
        return raw;
      };
      const req: Request = {
        event,
        deps,
        params: Object.fromEntries(Object.entries(event.pathParameters ?? {}).map(([k, v]) => [k, decodePathParameter(k, v ?? '')])),
        query: Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v ?? ''])),
        principal,
        runTaskBearer,
        body,
        header: (name) => header(event, name),
        json: (schema) => {
          const b = body();
          if (b.length > deps.settings.maxJsonBytes) throw tooLarge(`request body is ${b.length} bytes; the limit is ${deps.settings.maxJsonBytes}`);
          if (b.length === 0) throw badRequest('body: a JSON object is required');
          let parsed: unknown;
          try {
            parsed = JSON.parse(b.toString('utf8'));
          } catch {
            throw badRequest('body: not valid JSON', 'invalid_json');
          }
          return schema.parse(parsed);
        },
      };
      const result = await fn(req);
      if (opts.audit && (result.statusCode ?? 200) < 400) {
        await deps.audit.append({
          actor: principal?.username ?? 'anonymous',
          action: opts.audit,
          resource: event.rawPath.replace(/^\/api\/v1\//, ''),
          details: { ...req.params, ...(Object.keys(req.query).length ? { query: req.query } : {}), status: result.statusCode },
        });
      }
      return result;
    } catch (err) {
      return errorResult(err);
    }
  };
}

/** Query parameter as an integer in [min, max], or the default; 400 naming it otherwise. */
export function intQuery(req: Request, name: string, def: number, min: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw badRequest(`${name}: must be an integer from ${min} to ${max}`);
  return Number(raw);
}

export function enumQuery<T extends string>(req: Request, name: string, values: readonly T[], def?: T): T | undefined {
  const raw = req.query[name];
  if (raw === undefined || raw === '') return def;
  if (!values.includes(raw as T)) throw badRequest(`${name}: must be one of ${values.join(', ')}`);
  return raw as T;
}

export function taskIdParam(req: Request): number {
  const raw = req.params.task_id;
  if (!/^\d{1,12}$/.test(raw ?? '') || Number(raw) < 1) throw badRequest('task_id: must be a positive integer');
  return Number(raw);
}
