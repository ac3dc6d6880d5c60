/**
 * The API Lambda: every `/api/v1` route (SPEC §2–§7) behind one API Gateway HTTP API, routed by
 * @middy/http-router. The embedded default calls this same handler with API Gateway-shaped events.
 */
import middy from '@middy/core';
import httpRouterHandler from '@middy/http-router';
import type { Route } from '@middy/http-router';
import { errorResult, type Event, type Result } from './http.js';
import * as audit from './routes/audit-events.js';
import * as runTasks from './routes/run-tasks.js';
import * as streams from './routes/streams.js';
import * as system from './routes/system.js';
import * as tasks from './routes/tasks.js';
import * as workspaces from './routes/workspaces.js';

const V1 = '/api/v1';
const WS = `${V1}/workspaces/{workspace_id}`;
const TASK = `${V1}/tasks/{task_id}`;

export const routes: Route<Event, Result>[] = [
  { method: 'GET', path: `${V1}/health`, handler: system.health },
  { method: 'GET', path: `${V1}/meta`, handler: system.meta },
  { method: 'GET', path: `${V1}/terraform/streams/stats`, handler: streams.stats },
  { method: 'GET', path: `${V1}/me`, handler: system.me },
  { method: 'POST', path: `${V1}/users`, handler: system.createUser },
  { method: 'GET', path: `${V1}/users`, handler: system.listUsers },

  { method: 'POST', path: `${V1}/workspaces`, handler: workspaces.create },
  { method: 'GET', path: `${V1}/workspaces`, handler: workspaces.list },
  { method: 'GET', path: WS, handler: workspaces.get },
  { method: 'PATCH', path: WS, handler: workspaces.update },
  { method: 'DELETE', path: WS, handler: workspaces.remove },
  { method: 'POST', path: `${WS}/configuration-versions`, handler: workspaces.createConfigurationVersion },
  { method: 'GET', path: `${WS}/variables`, handler: workspaces.listVariables },
  { method: 'PUT', path: `${WS}/variables/{key}`, handler: workspaces.putVariable },
  { method: 'DELETE', path: `${WS}/variables/{key}`, handler: workspaces.deleteVariable },
  { method: 'GET', path: `${WS}/state`, handler: workspaces.state },

  { method: 'POST', path: `${WS}/tasks`, handler: tasks.create },
  { method: 'GET', path: `${WS}/tasks`, handler: tasks.list },
  { method: 'GET', path: `${WS}/tasks/{task_id}`, handler: tasks.get },
  { method: 'GET', path: `${WS}/tasks/{task_id}/plan-json`, handler: tasks.planJsonRoute },
  { method: 'GET', path: `${WS}/tasks/{task_id}/resource-changes`, handler: tasks.resourceChanges },
  { method: 'GET', path: TASK, handler: tasks.get },
  { method: 'POST', path: `${TASK}/confirm`, handler: tasks.confirm },
  { method: 'POST', path: `${TASK}/discard`, handler: tasks.discard },
  { method: 'POST', path: `${TASK}/cancel`, handler: tasks.cancel },
  { method: 'GET', path: `${TASK}/logs`, handler: tasks.logs },
  { method: 'GET', path: `${TASK}/logs/download`, handler: tasks.logsDownloadRoute },
  { method: 'GET', path: `${TASK}/artifacts`, handler: tasks.artifacts },
  { method: 'GET', path: `${V1}/artifacts/{artifact_id}/download`, handler: tasks.downloadArtifact },

  { method: 'POST', path: `${V1}/run-tasks`, handler: runTasks.create },
  { method: 'GET', path: `${V1}/run-tasks`, handler: runTasks.list },
  { method: 'GET', path: `${V1}/run-tasks/{run_task_id}`, handler: runTasks.get },
  { method: 'PUT', path: `${V1}/run-tasks/{run_task_id}`, handler: runTasks.update },
  { method: 'DELETE', path: `${V1}/run-tasks/{run_task_id}`, handler: runTasks.remove },
  { method: 'POST', path: `${V1}/run-tasks/{run_task_id}/verify`, handler: runTasks.verify },
  { method: 'POST', path: `${WS}/run-tasks`, handler: runTasks.attach },
  { method: 'GET', path: `${WS}/run-tasks`, handler: runTasks.listAttachments },
  { method: 'PUT', path: `${WS}/run-tasks/{workspace_run_task_id}`, handler: runTasks.updateAttachment },
  { method: 'DELETE', path: `${WS}/run-tasks/{workspace_run_task_id}`, handler: runTasks.detach },
  { method: 'GET', path: `${WS}/tasks/{task_id}/run-task-results`, handler: runTasks.results },
  { method: 'GET', path: `${TASK}/run-task-results`, handler: runTasks.results },
  { method: 'PATCH', path: `${V1}/run-task-results/{result_id}/callback`, handler: runTasks.callback },
  { method: 'GET', path: `${V1}/configuration-versions/{configuration_version_id}/download`, handler: runTasks.downloadConfiguration },
  { method: 'GET', path: `${V1}/system/metrics`, handler: runTasks.metrics },
  { method: 'GET', path: `${V1}/system`, handler: system.monitor },

  { method: 'GET', path: `${V1}/audit-events`, handler: audit.list },
  { method: 'GET', path: `${V1}/audit-events/verify`, handler: audit.verify },
];

const router = httpRouterHandler<Event, Result>({ routes });

export const handler = middy<Event, Result>()
  .onError(async (request) => {
    // Only the router itself throws here (no such route); routes map their own errors.
    request.response = errorResult(request.error);
  })
  .handler(router);
