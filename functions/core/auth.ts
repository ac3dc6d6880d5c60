/** Identity and access (SPEC §2): bearer tokens, admin/member roles, team-scoped workspaces. */
import { forbidden, unauthorized } from './errors.js';
import { sha256 } from './ids.js';
import type { Role, User, Workspace } from './model.js';
import type { Store } from './ports.js';

export interface Principal {
  user_id: string;
  username: string;
  role: Role;
  teams: string[];
}

export async function authenticate(store: Store, authorization: string | undefined): Promise<Principal> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) throw unauthorized();
  const user: User | null = await store.getUserByTokenHash(sha256(m[1]));
  if (!user) throw unauthorized('invalid bearer token');
  return { user_id: user.user_id, username: user.username, role: user.role, teams: user.teams ?? [] };
}

export function requireAdmin(p: Principal): void {
  if (p.role !== 'admin') throw forbidden('this action requires the admin role');
}

/** Members see workspaces without a team and those of their teams; admins see all. */
export function canAccessWorkspace(p: Principal, ws: Workspace): boolean {
  return p.role === 'admin' || ws.team_id === null || p.teams.includes(ws.team_id);
}
