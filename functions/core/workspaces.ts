/** Workspaces, their variables and configuration versions (SPEC §3). */
import { canAccessWorkspace, type Principal } from './auth.js';
import { packFiles, readArchive } from './configuration.js';
import type { Deps } from './deps.js';
import { badRequest, conflict, forbidden, notFound, tooLarge, unprocessable } from './errors.js';
import { newId, sha256 } from './ids.js';
import {
  VARIABLE_KEY,
  type ConfigurationVersion,
  type CreateWorkspaceInput,
  type PutVariableInput,
  type UpdateWorkspaceInput,
  type Variable,
  type Workspace,
} from './model.js';

function checkTeam(p: Principal, team: string | null | undefined) {
  if (team && p.role !== 'admin' && !p.teams.includes(team)) throw forbidden(`you are not a member of team ${team}`);
}

export async function createWorkspace(deps: Deps, p: Principal, input: CreateWorkspaceInput): Promise<Workspace> {
  checkTeam(p, input.team_id);
  const now = new Date().toISOString();
  const ws: Workspace = {
    workspace_id: newId('ws'),
    name: input.name,
    description: input.description ?? '',
    terraform_version: input.terraform_version ?? '1.11',
    execution_mode: input.execution_mode ?? 'plan_and_apply',
    auto_apply: input.auto_apply ?? false,
    working_directory: input.working_directory ?? '',
    apply_requires_admin: input.apply_requires_admin ?? false,
    team_id: input.team_id ?? null,
    require_ticket_for_apply: input.require_ticket_for_apply ?? false,
    created_by: p.username,
    created_at: now,
    updated_at: now,
  };
  await deps.store.createWorkspace(ws);
  return ws;
}

/** The workspace by id or name, if this principal may see it (404 otherwise, not to leak names). */
export async function getWorkspaceFor(deps: Deps, p: Principal, idOrName: string): Promise<Workspace> {
  const ws = await deps.store.getWorkspace(idOrName);
  if (!ws || !canAccessWorkspace(p, ws)) throw notFound(`workspace ${idOrName}`);
  return ws;
}

export async function listWorkspaces(deps: Deps, p: Principal): Promise<Workspace[]> {
  return (await deps.store.listWorkspaces()).filter((ws) => canAccessWorkspace(p, ws));
}

export async function updateWorkspace(deps: Deps, p: Principal, ws: Workspace, input: UpdateWorkspaceInput): Promise<Workspace> {
  checkTeam(p, input.team_id);
  // Making a team's workspace team-less would show it to every member.
  if (input.team_id === null && ws.team_id !== null && p.role !== 'admin') throw forbidden('only an admin may take a workspace away from its team');
  for (const guard of ['apply_requires_admin', 'require_ticket_for_apply'] as const) {
    if (input[guard] !== undefined && input[guard] !== (ws[guard] ?? false) && p.role !== 'admin') throw forbidden(`only an admin may change ${guard}`);
  }
  const next: Workspace = { ...ws, ...input, updated_at: new Date().toISOString() } as Workspace;
  await deps.store.updateWorkspace(next, ws.name);
  return next;
}

export async function deleteWorkspace(deps: Deps, ws: Workspace): Promise<void> {
  const holder = await deps.store.getLockHolder(ws.workspace_id);
  const pending = await deps.store.listPendingTasks(ws.workspace_id);
  if (holder !== null || pending.length > 0) throw conflict(`workspace ${ws.name} has active or queued runs; cancel them first`);
  await deps.store.deleteWorkspace(ws);
}

export function workspaceView(ws: Workspace) {
  return { ...ws, require_ticket_for_apply: ws.require_ticket_for_apply ?? false };
}

// ---------- variables ----------

export async function putVariable(deps: Deps, ws: Workspace, key: string, input: PutVariableInput): Promise<Variable> {
  if (!VARIABLE_KEY.test(key)) throw badRequest(`key: must match ${VARIABLE_KEY.source}`, 'invalid_key');
  const existing = (await deps.store.listVariables(ws.workspace_id)).find((v) => v.key === key);
  if (existing?.sensitive && input.sensitive === false) throw unprocessable('sensitive: a sensitive variable cannot be made non-sensitive; delete it and create it again');
  const sensitive = input.sensitive ?? existing?.sensitive ?? false;
  const v: Variable = {
    key,
    category: input.category,
    sensitive,
    hcl: input.hcl ?? false,
    description: input.description ?? existing?.description ?? '',
    value: sensitive ? await deps.secrets.encrypt(input.value) : input.value,
    updated_at: new Date().toISOString(),
  };
  await deps.store.putVariable(ws.workspace_id, v);
  return v;
}

/** Sensitive values are never returned: `value` is null and `value_set` says one is stored. */
export function variableView(v: Variable) {
  return { key: v.key, value: v.sensitive ? null : v.value, value_set: true, category: v.category, sensitive: v.sensitive, hcl: v.hcl, description: v.description, updated_at: v.updated_at };
}

/** Variables with their plain values, for the runner only. */
export async function resolveVariables(deps: Pick<Deps, 'store' | 'secrets'>, workspaceId: string): Promise<Variable[]> {
  const vars = await deps.store.listVariables(workspaceId);
  return Promise.all(vars.map(async (v) => (v.sensitive ? { ...v, value: await deps.secrets.decrypt(v.value) } : v)));
}

// ---------- configuration versions ----------

export const configurationBlobKey = (cv: Pick<ConfigurationVersion, 'workspace_id' | 'configuration_version_id'>) =>
  `configurations/${cv.workspace_id}/${cv.configuration_version_id}.tar.gz`;

export async function createConfigurationVersion(
  deps: Deps,
  p: Principal,
  ws: Workspace,
  upload: { archive: Buffer } | { files: Record<string, string> },
): Promise<ConfigurationVersion> {
  const max = deps.settings.maxConfigBytes;
  let archive: Buffer;
  let fileCount: number;
  if ('archive' in upload) {
    archive = upload.archive;
    fileCount = (await readArchive(archive, max)).size;
  } else {
    archive = await packFiles(upload.files);
    fileCount = Object.keys(upload.files).length;
  }
  if (archive.length > max) throw tooLarge(`configuration is ${archive.length} bytes; the limit is ${max}`);
  const cv: ConfigurationVersion = {
    configuration_version_id: newId('cv'),
    workspace_id: ws.workspace_id,
    sha256: sha256(archive),
    size_bytes: archive.length,
    file_count: fileCount,
    created_by: p.username,
    created_at: new Date().toISOString(),
  };
  await deps.blobs.put(configurationBlobKey(cv), archive);
  await deps.store.putConfigurationVersion(cv);
  return cv;
}
