/**
 * `…Dispatch` (lambda:invoke.waitForTaskToken, one Map iteration per run task): POST the payload.
 * The callback route sends the task token back; heartbeats come from the POST and `running` callbacks.
 */
import middy from '@middy/core';
import { dispatch } from '../../core/run-task-execution.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ result_id: string; token: string }, void>().handler(async (event) => dispatch(getDeps(), event.result_id, event.token));
