/** Health, meta and users (SPEC §2, §9). */
import { requireAdmin } from '../../../core/auth.js';
import { conflict } from '../../../core/errors.js';
import { newId, newToken, sha256 } from '../../../core/ids.js';
import { createUserInput, type User } from '../../../core/model.js';
import { json, route } from '../http.js';

export const health = route(async (req) => json(200, { status: 'ok', version: req.deps.settings.version, time: new Date().toISOString() }), { public: true });

export const meta = route(
  async (req) => {
    const base = req.deps.settings.publicUrl;
    const ws = process.env.WEBSOCKET_URL ?? `${base.replace(/^http/, 'ws')}/ws`;
    return json(200, { version: req.deps.settings.version, api_url: `${base}/api/v1`, websocket_url: ws });
  },
  { public: true },
);

export const me = route(async (req) => json(200, req.principal));

export const createUser = route(async (req) => {
  requireAdmin(req.principal);
  const input = req.json(createUserInput);
  const token = newToken();
  const user: User = { user_id: newId('user'), username: input.username, role: input.role, teams: input.teams ?? [], created_at: new Date().toISOString() };
  try {
    await req.deps.store.createUser(user, sha256(token));
  } catch (err) {
    throw (err as { status?: number }).status === 409 ? conflict(`username: ${input.username} is taken`) : err;
  }
  return json(201, { ...user, token });
}, { audit: 'user.create' });

export const listUsers = route(async (req) => {
  requireAdmin(req.principal);
  return json(200, { users: await req.deps.store.listUsers() });
});
