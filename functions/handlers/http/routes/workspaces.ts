/** Workspaces, configuration versions, variables, state (SPEC §3, §4). */
import { requireAdmin } from '../../../core/auth.js';
import { badRequest, notFound, tooLarge } from '../../../core/errors.js';
import { configurationFilesInput, createWorkspaceInput, putVariableInput, updateWorkspaceInput } from '../../../core/model.js';
import * as workspaces from '../../../core/workspaces.js';
import { json, route } from '../http.js';
import { workspaceOf } from './common.js';

const noContent = () => ({ statusCode: 204, headers: {}, body: '' });

export const create = route(async (req) => {
  const ws = await workspaces.createWorkspace(req.deps, req.principal, req.json(createWorkspaceInput));
  return json(201, workspaces.workspaceView(ws));
}, { audit: 'workspace.create' });

export const list = route(async (req) => {
  const all = await workspaces.listWorkspaces(req.deps, req.principal);
  return json(200, { workspaces: all.map(workspaces.workspaceView), total: all.length });
});

export const get = route(async (req) => {
  const ws = await workspaceOf(req);
  const [lock, state] = await Promise.all([req.deps.store.getLockHolder(ws.workspace_id), req.deps.store.getCurrentState(ws.workspace_id)]);
  return json(200, { ...workspaces.workspaceView(ws), locked_by_task: lock, state_serial: state?.version.serial ?? null });
});

export const update = route(async (req) => {
  const ws = await workspaceOf(req);
  const input = req.json(updateWorkspaceInput);
  return json(200, workspaces.workspaceView(await workspaces.updateWorkspace(req.deps, req.principal, ws, input)));
}, { audit: 'workspace.update' });

export const remove = route(async (req) => {
  const ws = await workspaceOf(req);
  requireAdmin(req.principal);
  await workspaces.deleteWorkspace(req.deps, ws);
  return noContent();
}, { audit: 'workspace.delete' });

export const createConfigurationVersion = route(async (req) => {
  const ws = await workspaceOf(req);
  const type = (req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  const size = req.body().length;
  let cv;
  if (['application/gzip', 'application/x-gzip', 'application/x-tar', 'application/octet-stream'].includes(type)) {
    if (size > req.deps.settings.maxConfigBytes) throw tooLarge(`configuration is ${size} bytes; the limit is ${req.deps.settings.maxConfigBytes}`);
    if (size === 0) throw badRequest('body: an empty archive');
    cv = await workspaces.createConfigurationVersion(req.deps, req.principal, ws, { archive: req.body() });
  } else if (type === 'application/json' || type === '') {
    cv = await workspaces.createConfigurationVersion(req.deps, req.principal, ws, req.json(configurationFilesInput));
  } else {
    throw badRequest(`content-type: send application/gzip (a .tar.gz) or application/json ({"files": {…}}), not ${type}`, 'unsupported_media_type');
  }
  return json(201, cv);
}, { audit: 'configuration_version.create' });

export const putVariable = route(async (req) => {
  const ws = await workspaceOf(req);
  const v = await workspaces.putVariable(req.deps, ws, req.params.key, req.json(putVariableInput));
  return json(200, workspaces.variableView(v));
}, { audit: 'variable.put' });

export const listVariables = route(async (req) => {
  const ws = await workspaceOf(req);
  return json(200, { variables: (await req.deps.store.listVariables(ws.workspace_id)).map(workspaces.variableView) });
});

export const deleteVariable = route(async (req) => {
  const ws = await workspaceOf(req);
  if (!(await req.deps.store.deleteVariable(ws.workspace_id, req.params.key))) throw notFound(`variable ${req.params.key}`);
  return noContent();
}, { audit: 'variable.delete' });

export const state = route(async (req) => {
  const ws = await workspaceOf(req);
  const current = await req.deps.store.getCurrentState(ws.workspace_id);
  if (!current) return json(200, { workspace_id: ws.workspace_id, serial: null, lineage: null, outputs: {}, task_id: null, created_at: null });
  const { serial, lineage, task_id, created_at, sha256 } = current.version;
  return json(200, { workspace_id: ws.workspace_id, serial, lineage, sha256, task_id, created_at, outputs: current.outputs });
});
