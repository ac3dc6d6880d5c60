/** `…MarkTimeout` / `…MarkError`: a result whose wait ended by timeout or failure. */
import middy from '@middy/core';
import { markResult } from '../../core/run-task-execution.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ result_id: string; status: 'timeout' | 'error'; error?: { Error?: string; Cause?: string } }, void>().handler(async (event) =>
  markResult(getDeps(), event.result_id, event.status, event.error),
);
