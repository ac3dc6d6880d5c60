/**
 * The run workflow: the Lambdas Step Functions invokes and the Standard state machine built from
 * the one definition in functions/workflow/definition.ts (the embedded default executes the same
 * definition in-process).
 *
 * A run-task stage is four of them: PrepareStage creates the stage's pending results, a Map runs
 * Dispatch once per run task (`lambda:invoke.waitForTaskToken`: it POSTs to the run task's
 * endpoint and the callback route, in the API Lambda, answers the token), MarkResult records a
 * wait that timed out or failed, DecideStage applies the enforcement levels.
 *
 * The state machine has an explicit name so that its ARN is known before it exists: the API and
 * finalize Lambdas need STATE_MACHINE_ARN while the state machine needs the workflow Lambdas'
 * ARNs; referencing the resource both ways would be a dependency cycle.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { buildRunDefinition, TIMEOUTS } from '../../functions/workflow/definition.js';
import { acknowledgeWildcardResource } from '../nag.js';
import type { Data } from './data.js';
import { RunwayFunction } from './function.js';
import type { Runner } from './runner.js';

/** The run state machine's name and ARN, derived from the stack so every construct agrees. */
export class RunStateMachineIdentity {
  static nameFor(stack: Stack): string {
    return `${stack.stackName}-run`;
  }

  static arnFor(stack: Stack): string {
    return stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: RunStateMachineIdentity.nameFor(stack),
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** `arn:…:execution:<name>`; executions are `<prefix>:<execution name>`. */
  static executionArnPrefix(stack: Stack): string {
    return stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: RunStateMachineIdentity.nameFor(stack),
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** The state machine as an IStateMachine, for its grant* methods, without a reference to the resource. */
  static import(scope: Construct, id: string): sfn.IStateMachine {
    return sfn.StateMachine.fromStateMachineArn(scope, id, RunStateMachineIdentity.arnFor(Stack.of(scope)));
  }
}

export interface WorkflowProps {
  readonly data: Data;
  readonly runner: Runner;
  /** Environment of the workflow Lambdas (the shared runtime environment, PUBLIC_URL included). */
  readonly environment: Record<string, string>;
}

/**
 * A step Lambda answers well inside the state's TimeoutSeconds. Dispatch too: its POST (3 attempts
 * of at most 10 s, with back-off) ends in well under a minute; the wait for the run task's callback
 * (TIMEOUTS.runTaskResultSeconds) is Step Functions' own and holds no Lambda.
 */
const stepTimeout = Duration.seconds(TIMEOUTS.lambdaSeconds - 10);

export class Workflow extends Construct {
  readonly begin: RunwayFunction;
  readonly prepareStage: RunwayFunction;
  readonly dispatch: RunwayFunction;
  readonly markResult: RunwayFunction;
  readonly decideStage: RunwayFunction;
  readonly afterPhase: RunwayFunction;
  readonly awaitConfirmation: RunwayFunction;
  readonly finalize: RunwayFunction;
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { data, runner, environment } = props;

    const step = (stepId: string, entry: string, description: string): RunwayFunction =>
      new RunwayFunction(this, stepId, { entry, description, environment, timeout: stepTimeout });

    this.begin = step('Begin', 'functions/handlers/workflow/begin.ts', 'Runway workflow: start a run (status, stage)');
    this.prepareStage = step(
      'PrepareStage',
      'functions/handlers/workflow/prepare-stage.ts',
      'Runway workflow: create a run-task stage\'s pending results',
    );
    // Not in a VPC: Lambda's own internet egress reaches run-task endpoints, and nothing private of
    // Runway's is reachable from it (the SSRF guard refuses private and metadata addresses too).
    this.dispatch = step(
      'Dispatch',
      'functions/handlers/workflow/dispatch.ts',
      'Runway workflow: POST one run task\'s payload and keep the task token waiting for its callback',
    );
    this.markResult = step(
      'MarkResult',
      'functions/handlers/workflow/mark-result.ts',
      'Runway workflow: record a run-task result that timed out or could not be dispatched',
    );
    this.decideStage = step(
      'DecideStage',
      'functions/handlers/workflow/decide-stage.ts',
      'Runway workflow: apply enforcement levels to a run-task stage\'s results',
    );
    this.afterPhase = step('AfterPhase', 'functions/handlers/workflow/after-phase.ts', 'Runway workflow: record a runner phase\'s outcome');
    this.awaitConfirmation = step(
      'AwaitConfirmation',
      'functions/handlers/workflow/await-confirmation.ts',
      'Runway workflow: store the task token of a run waiting for apply confirmation',
    );
    this.finalize = step('Finalize', 'functions/handlers/workflow/finalize.ts', 'Runway workflow: end a run, release the lock, start the next');
    const steps = this.functions;

    for (const fn of steps) data.grantRuntimeAccess(fn.role, 'encrypt-decrypt');
    const runs = RunStateMachineIdentity.import(this, 'RunStateMachineRef');
    // Finalize starts the next queued run of the workspace.
    runs.grantStartExecution(this.finalize);
    // Dispatch answers its own token (SendTaskSuccess when the result is already final or the POST
    // failed for good, SendTaskHeartbeat after a POST the endpoint accepted).
    runs.grantTaskResponse(this.dispatch);

    const definition = buildRunDefinition({
      beginFunctionArn: this.begin.function.functionArn,
      prepareStageFunctionArn: this.prepareStage.function.functionArn,
      dispatchFunctionArn: this.dispatch.function.functionArn,
      markResultFunctionArn: this.markResult.function.functionArn,
      decideStageFunctionArn: this.decideStage.function.functionArn,
      afterPhaseFunctionArn: this.afterPhase.function.functionArn,
      awaitConfirmationFunctionArn: this.awaitConfirmation.function.functionArn,
      finalizeFunctionArn: this.finalize.function.functionArn,
      runner: runner.refs,
    });

    this.logGroup = new logs.LogGroup(this, 'StateMachineLogs', { retention: logs.RetentionDays.ONE_MONTH });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: RunStateMachineIdentity.nameFor(stack),
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(stack.toJsonString(definition)),
      // No execution timeout: every state has its own, and an execution-level timeout would end
      // the run without Finalize, leaving the workspace locked.
      logs: {
        destination: this.logGroup,
        level: sfn.LogLevel.ALL,
        // Events only: state input/output carries task tokens.
        includeExecutionData: false,
      },
      tracingEnabled: true,
    });

    const role = this.stateMachine.role;
    acknowledgeWildcardResource(
      role,
      '*',
      'Step Functions logging (level ALL) and X-Ray tracing need the CloudWatch Logs log-delivery actions and the X-Ray upload actions, none of which supports resource-level permissions.',
    );
    for (const fn of steps) {
      fn.function.grantInvoke(role);
      acknowledgeWildcardResource(
        role,
        `${fn.function.functionArn}:*`,
        'Lambda.grantInvoke also covers the function\'s versions and aliases (<arn>:*); only the workflow\'s own step functions are named.',
      );
    }
    // ecs:RunTask on the task definition and iam:PassRole on its task and execution roles.
    runner.taskDefinition.grantRun(role);
    // `ecs:runTask.sync` watches the task and stops it when the state is stopped or times out.
    // DescribeTasks/StopTask act on task ARNs, unknown in advance: scoped to this cluster's tasks.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [runner.taskArnPattern],
        conditions: { ArnEquals: { 'ecs:cluster': runner.cluster.clusterArn } },
      }),
    );
    acknowledgeWildcardResource(
      role,
      runner.taskArnPattern,
      'Task ids are assigned when the task starts: the pattern names only tasks of the Runway runner cluster, and the ecs:cluster condition pins it again.',
    );
    // `.sync` learns that a task stopped from an EventBridge rule Step Functions manages itself;
    // this is its fixed name (Step Functions' documented policy for ECS .sync).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForECSTaskRule' }),
        ],
      }),
    );
  }

  get functions(): RunwayFunction[] {
    return [
      this.begin,
      this.prepareStage,
      this.dispatch,
      this.markResult,
      this.decideStage,
      this.afterPhase,
      this.awaitConfirmation,
      this.finalize,
    ];
  }
}
