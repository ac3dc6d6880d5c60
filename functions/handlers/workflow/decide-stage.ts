/** `…Decide`: enforcement levels applied to the stage's results; the run goes on or ends `failed`. */
import middy from '@middy/core';
import type { RunTaskStage } from '../../core/model.js';
import { decideStage } from '../../core/run-task-execution.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number; stage: RunTaskStage }, { passed: boolean }>().handler(async (event) => decideStage(getDeps(), event.task_id, event.stage));
