/**
 * State `AwaitConfirmation` (lambda:invoke.waitForTaskToken): park the task token on the run; the
 * API's confirm/discard/cancel send it back with the decision.
 */
import middy from '@middy/core';
import { awaitConfirmation } from '../../core/runs.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number; token: string }, void>().handler(async (event) => awaitConfirmation(getDeps(), event.task_id, event.token));
