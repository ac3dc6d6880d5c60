/** States `AfterPlan`, `AfterApply`: read the runner's outcome and choose what comes next. */
import middy from '@middy/core';
import { afterPhase, type PhaseDecision } from '../../core/runs.js';
import { getDeps } from '../../services.js';

export const handler = middy<{ task_id: number; workspace_id?: string; phase: 'plan' | 'apply' }, PhaseDecision>().handler(async (event) =>
  afterPhase(getDeps(), event.task_id, event.phase, event.workspace_id),
);
