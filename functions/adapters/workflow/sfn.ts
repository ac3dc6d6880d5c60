/** The Workflow port on AWS Step Functions: one Standard execution per run, named run-<task_id>. */
import { ExecutionAlreadyExists, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Task } from '../../core/model.js';
import type { Workflow } from '../../core/ports.js';

export class StepFunctionsWorkflow implements Workflow {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async startRun(task: Pick<Task, 'task_id' | 'workspace_id'>): Promise<void> {
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: `run-${task.task_id}`,
          input: JSON.stringify({ task_id: task.task_id, workspace_id: task.workspace_id }),
        }),
      );
    } catch (err) {
      // Execution names are unique: a second start of the same run is a no-op.
      if (!(err instanceof ExecutionAlreadyExists)) throw err;
    }
  }

  async sendTaskHeartbeat(token: string): Promise<void> {
    await this.sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
  }

  async sendTaskSuccess(token: string, output: Record<string, unknown>): Promise<void> {
    await this.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }));
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    await this.sfn.send(new SendTaskFailureCommand({ taskToken: token, error, cause }));
  }
}
