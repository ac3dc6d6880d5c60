/** States `PrePlan`, `PostPlan`, `PreApply`, `PostApply`: a run-task stage and its decision. */
import middy from '@middy/core';
import type { RunTaskStage } from '../../core/model.js';
import { runTaskStage, type StageResult } from '../../core/runs.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number; stage: RunTaskStage }, StageResult>().handler(async (event) => runTaskStage(getDeps(), event.task_id, event.stage));
