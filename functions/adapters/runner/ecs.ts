/** RunnerControl on ECS: stops the run's Fargate task, whose ARN the runner recorded at start. */
import { type ECSClient, StopTaskCommand } from '@aws-sdk/client-ecs';
import type { RunnerControl, Store } from '../../core/ports.js';

export class EcsRunnerControl implements RunnerControl {
  constructor(
    private readonly ecs: ECSClient,
    private readonly clusterArn: string,
    private readonly store: Store,
  ) {}

  async stop(taskId: number, _force: boolean): Promise<boolean> {
    const arn = (await this.store.getTask(taskId))?.runner_ref;
    if (!arn) return false;
    // ECS sends SIGTERM (the runner turns it into terraform's interrupt), then SIGKILL after the
    // container's stopTimeout. A forced cancel is recorded on the run, so the runner skips the
    // graceful wait when it sees it.
    await this.ecs.send(new StopTaskCommand({ cluster: this.clusterArn, task: arn, reason: `run ${taskId} cancelled` }));
    return true;
  }
}
