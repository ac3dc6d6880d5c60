/** States `PrePlan`, `PostPlan`, `PreApply`, `PostApply`: the stage's run-task results, created pending. */
import middy from '@middy/core';
import type { RunTaskStage } from '../../core/model.js';
import { prepareStage, type PreparedStage } from '../../core/run-task-execution.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number; workspace_id?: string; stage: RunTaskStage }, PreparedStage>().handler(async (event) =>
  prepareStage(getDeps(), event.task_id, event.stage, event.workspace_id),
);
