/**
 * `…Dispatch` (lambda:invoke.waitForTaskToken, one Map iteration per run task): POST the payload.
 * The callback route sends the task token back; heartbeats come from the POST and `running` callbacks.
 */
import middy from '@middy/core';
import type { RunTaskStage } from '../../core/model.js';
import { dispatch } from '../../core/run-task-execution.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ result_id: string; task_id: number; stage: RunTaskStage; token: string }, void>().handler(async (event) =>
  dispatch(getDeps(), { result_id: event.result_id, task_id: event.task_id, stage: event.stage }, event.token),
);
