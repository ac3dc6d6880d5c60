/** The one state-machine definition: valid ASL, every transition resolves, every stage present. */
import '../../local/polyfills.js';
import { StateMachine } from 'aws-local-stepfunctions';
import { buildRunDefinition, STATE } from '../../functions/workflow/definition.js';
import { LOCAL_REFS } from '../../local/workflow.js';

type S = { Type: string; Next?: string; Default?: string; Choices?: { Next: string }[]; Catch?: { Next: string }[]; ItemProcessor?: { StartAt: string; States: Record<string, S> }; End?: boolean };

describe('run definition', () => {
  const def = buildRunDefinition(LOCAL_REFS) as { StartAt: string; States: Record<string, S> };

  it('is accepted by the Step Functions interpreter with ARN and path checks on', () => {
    expect(() => new StateMachine(def as never, { validationOptions: { checkArn: true, checkPaths: true } })).not.toThrow();
  });

  it('has every stage of a run and only transitions to states that exist', () => {
    const check = (states: Record<string, S>) => {
      for (const s of Object.values(states)) {
        const targets = [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)].filter(Boolean) as string[];
        for (const t of targets) expect(Object.keys(states)).toContain(t);
        if (s.ItemProcessor) check(s.ItemProcessor.States);
      }
    };
    check(def.States);
    for (const name of Object.values(STATE)) expect(def.States).toHaveProperty([name]);
    for (const stage of ['PrePlan', 'PostPlan', 'PreApply', 'PostApply']) {
      const map = def.States[`${stage}Tasks`];
      expect(map.Type).toBe('Map');
      const batch = map.ItemProcessor!.States[`${stage}Batch`];
      expect(batch.Type).toBe('Map');
      const dispatch = batch.ItemProcessor!.States[`${stage}Dispatch`] as unknown as Record<string, unknown>;
      expect(dispatch).toMatchObject({ Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', HeartbeatSecondsPath: '$.heartbeat_seconds', TimeoutSeconds: 3600 });
    }
    expect(def.States.AwaitConfirmation).toMatchObject({ Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken' });
    expect(def.States.Plan).toMatchObject({ Resource: 'arn:aws:states:::ecs:runTask.sync' });
  });

  it('sends every failure to Finalize, so a run never ends without releasing its lock', () => {
    for (const [name, s] of Object.entries(def.States)) {
      if (s.Type === 'Task' && name !== STATE.finalize) expect(s.Catch?.some((c) => c.Next === STATE.finalize)).toBe(true);
    }
    expect(def.States.Finalize.End).toBe(true);
  });
});
