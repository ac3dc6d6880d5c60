/** State `Begin`: the execution started (a cancel that raced the start is recorded). */
import middy from '@middy/core';
import { begin } from '../../core/runs.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number }, void>().handler(async (event) => begin(getDeps(), event.task_id));
