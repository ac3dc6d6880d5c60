/**
 * The UI's only backend: the Runway API (SPEC §2–§7). A bearer token kept in localStorage; every
 * error answer `{error, message}` becomes an ApiError the screens show as is.
 */
import type { Principal } from './types';

const TOKEN_KEY = 'runway.token';
export const API = '/api/v1';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Called on any 401: the app drops the token and shows the sign-in screen. */
let onUnauthorized: () => void = () => undefined;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export interface RequestOptions {
  token?: string;
  /** a raw body (an upload) with its content type */
  raw?: { body: Blob | ArrayBuffer; contentType: string };
  signal?: AbortSignal;
}

async function request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const token = opts.token ?? getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (opts.raw) {
    payload = opts.raw.body;
    headers['content-type'] = opts.raw.contentType;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(path.startsWith('/api/') ? path : `${API}${path}`, { method, headers, body: payload, signal: opts.signal });
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  const data: unknown = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const err = (data ?? {}) as { error?: string; message?: string };
    if (res.status === 401 && !opts.token) onUnauthorized();
    throw new ApiError(res.status, err.error ?? `http_${res.status}`, err.message ?? (typeof data === 'string' && data ? data : `${method} ${path} answered ${res.status}`));
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, body, opts),
  put: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PUT', path, body, opts),
  patch: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PATCH', path, body, opts),
  delete: <T>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, undefined, opts),
};

/** Checks a token by asking who it belongs to (GET /me). */
export const whoAmI = (token?: string) => api.get<Principal>('/me', { token });

/** Fetches an authorised download and hands it to the browser as a file. */
export async function downloadFile(path: string, fallbackName: string): Promise<void> {
  const res = await fetch(`${API}${path}`, { headers: { authorization: `Bearer ${getToken() ?? ''}` } });
  if (!res.ok) {
    const err = await res.json().catch(() => ({}) as { message?: string });
    throw new ApiError(res.status, 'download_failed', (err as { message?: string }).message ?? `download answered ${res.status}`);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const enc = encodeURIComponent;
