/** State `Finalize`: the run's final status, its lock released, the next queued run started. */
import middy from '@middy/core';
import { finalize, type WorkflowError } from '../../core/runs.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number; error?: WorkflowError }, void>().handler(async (event) => finalize(getDeps(), event.task_id, event.error));
