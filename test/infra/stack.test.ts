/**
 * The CDK stack, synthesized in memory (bundling skipped) with the context of cdk.json.
 * Token values are rendered as `{{Ref:Id}}` / `{{GetAtt:Id.Attr}}` so that references can be
 * compared with the resources they must point at.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, ArnFormat, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildRunDefinition, STATE, TIMEOUTS } from '../../functions/workflow/definition.js';
import { RUNNER_CONTAINER_NAME } from '../../infra/constructs/runner.js';
import { RunwayStack } from '../../infra/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };

type Json = Record<string, any>;

let stack: RunwayStack;
let template: Template;
let resources: Record<string, Json>;

beforeAll(() => {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  stack = new RunwayStack(app, 'Runway');
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

/** Renders a resolved CloudFormation value as a string with readable placeholders. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Json;
    if ('Fn::Join' in o) {
      const [delimiter, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(delimiter);
    }
    if ('Ref' in o) return `{{Ref:${o.Ref}}}`;
    if ('Fn::GetAtt' in o) return `{{GetAtt:${(o['Fn::GetAtt'] as string[]).join('.')}}}`;
    if ('Fn::Sub' in o && typeof o['Fn::Sub'] === 'string') return o['Fn::Sub'];
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** A token (or plain string) of the stack, rendered as the template shows it. */
function rendered(token: string): string {
  return render(stack.resolve(token));
}

function logicalId(construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

function resource(construct: IConstruct): Json {
  const found = resources[logicalId(construct)];
  if (!found) throw new Error(`no resource for ${construct.node.path}`);
  return found;
}

function ofType(type: string): Array<[string, Json]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function arrayOf<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

interface Statement {
  policy: string;
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: Json;
}

/** Every IAM statement of the template (inline role policies, policies, managed policies). */
function statements(): Statement[] {
  const out: Statement[] = [];
  const add = (policy: string, document: Json) => {
    for (const s of document.Statement as Json[]) {
      out.push({ policy, Effect: s.Effect, Action: arrayOf(s.Action), Resource: arrayOf(s.Resource).map(render), Condition: s.Condition });
    }
  };
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') add(id, r.Properties.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') for (const p of r.Properties.Policies ?? []) add(id, p.PolicyDocument);
  }
  return out;
}

/** Statements of the policies attached to a role (by the role's logical id). */
function statementsOfRole(roleId: string): Statement[] {
  const policies = new Set(
    Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as Json[]).some((x) => x.Ref === roleId))
      .map(([id]) => id),
  );
  return statements().filter((s) => policies.has(s.policy));
}

function allows(list: Statement[], action: string, resourceRendered?: string): boolean {
  return list.some(
    (s) => s.Effect === 'Allow' && s.Action.includes(action) && (resourceRendered === undefined || s.Resource.includes(resourceRendered)),
  );
}

/** The ARN every principal is told and granted on, built independently of infra/. */
const stateMachineArn = () =>
  rendered(stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: 'Runway-run', arnFormat: ArnFormat.COLON_RESOURCE_NAME }));

describe('data', () => {
  test('one table: pk/sk, gsi1, on-demand, PITR, customer-key SSE, TTL, retained', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(1);
    const [, table] = tables[0];
    expect(table.DeletionPolicy).toBe('Retain');
    const p = table.Properties;
    expect(p.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.SSESpecification).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
      KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(stack.data.key), 'Arn'] },
    });
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(p.GlobalSecondaryIndexes).toHaveLength(1);
    expect(p.GlobalSecondaryIndexes[0]).toMatchObject({
      IndexName: 'gsi1',
      KeySchema: [
        { AttributeName: 'gsi1pk', KeyType: 'HASH' },
        { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
      ],
    });
    const attributes = Object.fromEntries((p.AttributeDefinitions as Json[]).map((a) => [a.AttributeName, a.AttributeType]));
    expect(attributes).toEqual({ pk: 'S', sk: 'S', gsi1pk: 'S', gsi1sk: 'S' });
  });

  test('the KMS key rotates and is retained', () => {
    const key = resource(stack.data.key);
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
  });

  test('blob bucket: versioned, KMS with the key, public access blocked, access logs, retained', () => {
    const bucket = resource(stack.data.blobs);
    expect(bucket.DeletionPolicy).toBe('Retain');
    const p = bucket.Properties;
    expect(p.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(p.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: {
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: { 'Fn::GetAtt': [logicalId(stack.data.key), 'Arn'] },
        },
      },
    ]);
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(p.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logicalId(stack.data.accessLogs) });
  });

  test('both buckets refuse requests without TLS', () => {
    for (const bucket of [stack.data.blobs, stack.data.accessLogs]) {
      const policies = ofType('AWS::S3::BucketPolicy').filter(([, r]) => r.Properties.Bucket.Ref === logicalId(bucket));
      expect(policies).toHaveLength(1);
      const denyInsecure = (policies[0][1].Properties.PolicyDocument.Statement as Json[]).find(
        (s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      );
      expect(denyInsecure).toBeDefined();
    }
  });
});

describe('workflow', () => {
  let machine: Json;
  let definition: Json;

  beforeAll(() => {
    const machines = ofType('AWS::StepFunctions::StateMachine');
    expect(machines).toHaveLength(1);
    machine = machines[0][1];
    definition = JSON.parse(render(machine.Properties.DefinitionString));
  });

  test('a Standard state machine with an explicit name, logging and tracing', () => {
    const p = machine.Properties;
    expect(p.StateMachineName).toBe('Runway-run');
    expect(p.StateMachineType).toBe('STANDARD');
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
    expect(['ALL', 'ERROR']).toContain(p.LoggingConfiguration.Level);
    const destination = p.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn;
    expect(destination).toEqual({ 'Fn::GetAtt': [logicalId(stack.workflow.logGroup), 'Arn'] });
  });

  /** The states a run-task stage adds next to its entry state (`PrePlan`, …): see runTaskStageStates. */
  const stages = [STATE.prePlan, STATE.postPlan, STATE.preApply, STATE.postApply];
  const stageStates = (name: string) => [name, `${name}HasTasks`, `${name}Tasks`, `${name}Decide`];

  test('its states are those of buildRunDefinition', () => {
    const expectedNames = new Set([...Object.values(STATE), ...stages.flatMap(stageStates)]);
    expect(Object.keys(definition.States).sort()).toEqual([...expectedNames].sort());
    expect(definition.StartAt).toBe(STATE.begin);
    const confirm = definition.States[STATE.awaitConfirmation];
    expect(confirm.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(confirm.Parameters.Payload['token.$']).toBe('$$.Task.Token');
    expect(confirm.Parameters.FunctionName).toBe(rendered(stack.workflow.awaitConfirmation.function.functionArn));
    for (const phase of [STATE.plan, STATE.apply]) {
      const state = definition.States[phase];
      expect(state.Resource).toBe('arn:aws:states:::ecs:runTask.sync');
      expect(state.Parameters.TaskDefinition).toBe(rendered(stack.runner.taskDefinition.taskDefinitionArn));
      expect(state.Parameters.Cluster).toBe(rendered(stack.runner.cluster.clusterArn));
      expect(state.Parameters.Overrides.ContainerOverrides[0].Name).toBe(RUNNER_CONTAINER_NAME);
    }
  });

  test('the definition is exactly buildRunDefinition over the stack\'s resources', () => {
    const refs = stack.runner.refs;
    const expected = buildRunDefinition({
      beginFunctionArn: rendered(stack.workflow.begin.function.functionArn),
      prepareStageFunctionArn: rendered(stack.workflow.prepareStage.function.functionArn),
      dispatchFunctionArn: rendered(stack.workflow.dispatch.function.functionArn),
      markResultFunctionArn: rendered(stack.workflow.markResult.function.functionArn),
      decideStageFunctionArn: rendered(stack.workflow.decideStage.function.functionArn),
      afterPhaseFunctionArn: rendered(stack.workflow.afterPhase.function.functionArn),
      awaitConfirmationFunctionArn: rendered(stack.workflow.awaitConfirmation.function.functionArn),
      finalizeFunctionArn: rendered(stack.workflow.finalize.function.functionArn),
      runner: {
        clusterArn: rendered(refs.clusterArn),
        taskDefinitionArn: rendered(refs.taskDefinitionArn),
        containerName: refs.containerName,
        subnets: refs.subnets.map(rendered),
        securityGroups: refs.securityGroups.map(rendered),
      },
    });
    expect(definition).toEqual(expected);
    // Private subnets of the runner VPC, in two AZs.
    expect(new Set(refs.subnets.map(rendered)).size).toBe(2);
  });

  test.each(stages)('stage %s: Prepare, then a Map of Dispatch tasks waiting on their token, then Decide', (name) => {
    const arn = (fn: { function: { functionArn: string } }) => rendered(fn.function.functionArn);
    const prepare = definition.States[name];
    expect(prepare).toMatchObject({ Type: 'Task', Resource: arn(stack.workflow.prepareStage), Next: `${name}HasTasks` });
    const hasTasks = definition.States[`${name}HasTasks`];
    expect(hasTasks.Type).toBe('Choice');
    expect(hasTasks.Choices.map((c: Json) => c.Next)).toContain(`${name}Tasks`);

    const map = definition.States[`${name}Tasks`];
    expect(map).toMatchObject({ Type: 'Map', Next: `${name}Decide` });
    expect(map.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: STATE.finalize })]);
    // Batches of at most 40 (an inline Map's concurrency), each a Map of Dispatch tasks.
    expect(map.ItemsPath).toBe('$.stage_result.batches');
    const batch = map.ItemProcessor.States[`${name}Batch`];
    expect(batch).toMatchObject({ Type: 'Map', ItemsPath: '$.batch', MaxConcurrency: 0 });
    const inner = batch.ItemProcessor;
    expect(inner.StartAt).toBe(`${name}Dispatch`);
    const dispatch = inner.States[`${name}Dispatch`];
    expect(dispatch.Type).toBe('Task');
    expect(dispatch.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(dispatch.Parameters.FunctionName).toBe(arn(stack.workflow.dispatch));
    expect(dispatch.Parameters.Payload['token.$']).toBe('$$.Task.Token');
    // No progress for the run task's own timeout_seconds ends the wait; so does an hour in all.
    expect(dispatch.HeartbeatSecondsPath).toBe('$.heartbeat_seconds');
    expect(batch.ItemSelector['heartbeat_seconds.$']).toBe('$$.Map.Item.Value.timeout_seconds');
    expect(dispatch.TimeoutSeconds).toBe(3600);
    expect(dispatch.TimeoutSeconds).toBe(TIMEOUTS.runTaskResultSeconds);
    const [onTimeout, onError] = dispatch.Catch as Json[];
    expect(onTimeout.ErrorEquals).toEqual(expect.arrayContaining(['States.Timeout', 'States.HeartbeatTimeout']));
    expect(onError.ErrorEquals).toEqual(['States.ALL']);
    for (const [catcher, status] of [[onTimeout, 'timeout'], [onError, 'error']] as const) {
      const mark = inner.States[catcher.Next];
      expect(mark).toMatchObject({ Type: 'Task', Resource: arn(stack.workflow.markResult), End: true });
      expect(mark.Parameters.status).toBe(status);
    }

    expect(definition.States[`${name}Decide`]).toMatchObject({ Type: 'Task', Resource: arn(stack.workflow.decideStage) });
  });

  test('the state machine role may invoke the workflow step functions, run the task and watch it', () => {
    const role = statementsOfRole(logicalId(stack.workflow.stateMachine.role));
    for (const fn of stack.workflow.functions) {
      expect(allows(role, 'lambda:InvokeFunction', rendered(fn.function.functionArn))).toBe(true);
    }
    expect(allows(role, 'lambda:InvokeFunction', rendered(stack.api.handler.function.functionArn))).toBe(false);
    expect(allows(role, 'ecs:RunTask', rendered(stack.runner.taskDefinition.taskDefinitionArn))).toBe(true);
    for (const passed of [stack.runner.taskDefinition.taskRole, stack.runner.taskDefinition.executionRole!]) {
      expect(allows(role, 'iam:PassRole', rendered(passed.roleArn))).toBe(true);
    }
    for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule']) {
      const s = role.find((x) => x.Action.includes(action));
      expect(s?.Resource).toEqual([expect.stringMatching(/:rule\/StepFunctionsGetEventsForECSTaskRule$/)]);
    }
    const stop = role.find((s) => s.Action.includes('ecs:StopTask'));
    expect(stop?.Resource).toEqual([rendered(stack.runner.taskArnPattern)]);
    expect(stop?.Condition).toEqual({ ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [logicalId(stack.runner.cluster), 'Arn'] } } });
  });

  test('the name-derived ARN the Lambdas use is the state machine\'s ARN', () => {
    const arn = rendered(stack.workflow.stateMachine.stateMachineArn);
    expect(arn).toBe(`{{Ref:${logicalId(stack.workflow.stateMachine)}}}`);
    // Ref of a state machine is its ARN: arn:<partition>:states:<region>:<account>:stateMachine:<name>
    expect(stateMachineArn()).toBe(
      `arn:{{Ref:AWS::Partition}}:states:{{Ref:AWS::Region}}:{{Ref:AWS::AccountId}}:stateMachine:${machine.Properties.StateMachineName}`,
    );
  });
});

describe('Lambdas', () => {
  const functions = () => [stack.api.handler, ...stack.workflow.functions];

  test('nine functions: nodejs22.x on arm64, ESM bundles, their own log groups with retention', () => {
    expect(functions()).toHaveLength(9);
    expect(new Set(functions().map((fn) => logicalId(fn.function))).size).toBe(9);
    for (const fn of functions()) {
      const p = resource(fn.function).Properties;
      expect(p.Runtime).toBe('nodejs22.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.Handler).toBe('index.handler');
      expect(p.LoggingConfig.LogGroup).toEqual({ Ref: logicalId(fn.logGroup) });
      expect(resource(fn.logGroup).Properties.RetentionInDays).toBeGreaterThan(0);
      expect(p.Role).toEqual({ 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] });
    }
  });

  test('every function and the runner container get the runtime environment', () => {
    const common = {
      RUNWAY_PLATFORM: 'aws',
      TABLE_NAME: `{{Ref:${logicalId(stack.data.table)}}}`,
      BLOB_BUCKET: `{{Ref:${logicalId(stack.data.blobs)}}}`,
      KMS_KEY_ID: `{{GetAtt:${logicalId(stack.data.key)}.Arn}}`,
      STATE_MACHINE_ARN: stateMachineArn(),
      RUNNER_CLUSTER_ARN: `{{GetAtt:${logicalId(stack.runner.cluster)}.Arn}}`,
      POWERTOOLS_SERVICE_NAME: 'runway',
    };
    // The web UI's CloudFront URL, which also serves /api/* (test/infra/web.test.ts).
    const publicUrl = `https://{{GetAtt:${logicalId(stack.web.distribution)}.DomainName}}`;
    for (const fn of functions()) {
      const env = resource(fn.function).Properties.Environment.Variables as Json;
      const renderedEnv = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, render(v)]));
      expect(renderedEnv).toMatchObject({ ...common, PUBLIC_URL: publicUrl, POWERTOOLS_METRICS_NAMESPACE: 'Runway' });
      // Defaults on AWS: 60 s minimum run-task timeout; run tasks never reach private or loopback addresses.
      for (const unset of ['RUN_TASK_MIN_TIMEOUT_SECONDS', 'ALLOW_PRIVATE_RUN_TASKS', 'ALLOW_LOOPBACK_RUN_TASKS']) {
        expect(Object.keys(renderedEnv)).not.toContain(unset);
      }
    }
    const [container] = resource(stack.runner.taskDefinition).Properties.ContainerDefinitions as Json[];
    const containerEnv = Object.fromEntries((container.Environment as Json[]).map((e) => [e.Name, render(e.Value)]));
    expect(containerEnv).toMatchObject(common);
  });

  test('API role: data, start/answer/stop executions of the run state machine, stop runner tasks', () => {
    const role = statementsOfRole(logicalId(stack.api.handler.role));
    expect(allows(role, 'dynamodb:PutItem', rendered(stack.data.table.tableArn))).toBe(true);
    expect(allows(role, 's3:PutObject', rendered(stack.data.blobs.arnForObjects('*')))).toBe(true);
    expect(allows(role, 'kms:Encrypt', rendered(stack.data.key.keyArn))).toBe(true);
    for (const action of ['states:StartExecution', 'states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']) {
      expect(allows(role, action, stateMachineArn())).toBe(true);
    }
    expect(allows(role, 'states:StopExecution', `${stateMachineArn().replace(':stateMachine:', ':execution:')}:*`)).toBe(true);
    const stop = role.find((s) => s.Action.includes('ecs:StopTask'));
    expect(stop?.Resource).toEqual([rendered(stack.runner.taskArnPattern)]);
    expect(stop?.Condition?.ArnEquals?.['ecs:cluster']).toEqual({ 'Fn::GetAtt': [logicalId(stack.runner.cluster), 'Arn'] });
  });

  test('workflow roles: data for all, StartExecution for finalize only, task responses for dispatch only', () => {
    for (const fn of stack.workflow.functions) {
      const role = statementsOfRole(logicalId(fn.role));
      expect(allows(role, 'dynamodb:UpdateItem', rendered(stack.data.table.tableArn))).toBe(true);
      expect(allows(role, 'kms:Decrypt', rendered(stack.data.key.keyArn))).toBe(true);
      expect(allows(role, 'states:StartExecution')).toBe(fn === stack.workflow.finalize);
      expect(allows(role, 'states:SendTaskSuccess')).toBe(fn === stack.workflow.dispatch);
    }
    expect(allows(statementsOfRole(logicalId(stack.workflow.finalize.role)), 'states:StartExecution', stateMachineArn())).toBe(true);
  });

  test('dispatch and API roles answer task tokens of the run state machine only', () => {
    for (const fn of [stack.workflow.dispatch, stack.api.handler]) {
      const role = statementsOfRole(logicalId(fn.role));
      for (const action of ['states:SendTaskSuccess', 'states:SendTaskHeartbeat']) {
        const granting = role.filter((s) => s.Effect === 'Allow' && s.Action.includes(action));
        expect({ fn: fn.node.path, action, resources: granting.map((s) => s.Resource) }).toEqual({ fn: fn.node.path, action, resources: [[stateMachineArn()]] });
      }
    }
    // No other principal of the stack may answer a task token.
    const answering = new Set(statements().filter((s) => s.Action.includes('states:SendTaskSuccess')).map((s) => s.policy));
    const policiesOf = (fn: { role: IConstruct }) =>
      Object.entries(resources)
        .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as Json[]).some((x) => x.Ref === logicalId(fn.role)))
        .map(([id]) => id);
    expect([...answering].sort()).toEqual([...policiesOf(stack.workflow.dispatch), ...policiesOf(stack.api.handler)].sort());
  });
});

describe('HTTP API', () => {
  test('$default route to the API Lambda with payload 2.0; $default stage with access logs and throttling', () => {
    // The HTTP API's own (the live-log WebSocket API has routes and a stage too: log-streaming.test.ts).
    const ofHttpApi = (type: string) => ofType(type).filter(([, r]) => r.Properties.ApiId?.Ref === logicalId(stack.api.httpApi));
    const routes = ofHttpApi('AWS::ApiGatewayV2::Route');
    expect(routes.map(([, r]) => r.Properties.RouteKey)).toEqual(['$default']);
    const target = render(routes[0][1].Properties.Target);
    const [integrationId] = target.match(/[A-Za-z0-9]+(?=\}\}$)/) ?? [];
    const integration = resources[integrationId!];
    expect(integration.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    expect(render(integration.Properties.IntegrationUri)).toBe(rendered(stack.api.handler.function.functionArn));

    const stages = ofHttpApi('AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const stage = stages[0][1].Properties;
    expect(stage.StageName).toBe('$default');
    expect(stage.AutoDeploy).toBe(true);
    expect(stage.AccessLogSettings.DestinationArn).toBeDefined();
    expect(stage.DefaultRouteSettings.ThrottlingRateLimit).toBeGreaterThan(0);
  });
});

describe('runner', () => {
  test('Fargate task definition with the `runner` container, awslogs, 2 vCPU / 4 GiB', () => {
    const task = resource(stack.runner.taskDefinition).Properties;
    expect(task.RequiresCompatibilities).toEqual(['FARGATE']);
    expect(task.Cpu).toBe('2048');
    expect(task.Memory).toBe('4096');
    expect(task.RuntimePlatform.CpuArchitecture).toBe('ARM64');
    expect(task.ContainerDefinitions).toHaveLength(1);
    const [container] = task.ContainerDefinitions as Json[];
    expect(container.Name).toBe('runner');
    expect(container.LogConfiguration.LogDriver).toBe('awslogs');
    expect(container.LogConfiguration.Options['awslogs-group']).toEqual({ Ref: logicalId(stack.runner.logGroup) });
    expect(resource(stack.runner.logGroup).Properties.RetentionInDays).toBeGreaterThan(0);
    // A container image asset (the CDK asset repository), not a public image.
    expect(JSON.stringify(container.Image)).toContain('container-assets');
  });

  test('cluster with Container Insights; VPC in two AZs with private subnets and a flow log', () => {
    const cluster = resource(stack.runner.cluster).Properties;
    expect(cluster.ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
    expect(ofType('AWS::EC2::Subnet')).toHaveLength(4);
    expect(stack.runner.vpc.privateSubnets).toHaveLength(2);
    expect(ofType('AWS::EC2::FlowLog')).toHaveLength(1);
    // Environment-agnostic: availability zones come from Fn::GetAZs, not from a lookup.
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });

  test('the image is built from containers/runner/Dockerfile at the repository root, without node_modules', () => {
    const assembly = (stack.node.root as App).synth();
    const manifest = JSON.parse(readFileSync(join(assembly.directory, 'Runway.assets.json'), 'utf8'));
    const images = Object.values(manifest.dockerImages) as Json[];
    expect(images).toHaveLength(1);
    expect(images[0].source.dockerFile).toBe('containers/runner/Dockerfile');
    expect(images[0].source.platform).toBe('linux/arm64');
    const top = readdirSync(join(assembly.directory, images[0].source.directory)).sort();
    expect(top).toEqual(expect.arrayContaining(['containers', 'functions', 'package-lock.json', 'package.json']));
    for (const excluded of ['node_modules', 'cdk.out', '.data', '.git', 'infra', 'test']) expect(top).not.toContain(excluded);
  });

  test('the Dockerfile: pinned Terraform base, Node added, non-root user, node entry point', () => {
    const dockerfile = readFileSync(join(root, 'containers/runner/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM (--platform=\S+ )?node:20-bookworm-slim AS build$/m);
    expect(dockerfile).toMatch(/^FROM hashicorp\/terraform:1\.11\.4$/m);
    expect(dockerfile).toMatch(/apk add --no-cache nodejs/);
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", ?"\/app\/runner\.mjs"\]$/m);
  });
});

describe('IAM and cdk-nag', () => {
  /** Actions that support no resource-level permission, where `"*"` is the only possible resource. */
  const starOnly = new Set([
    // Task execution role: pulling the image from ECR.
    'ecr:GetAuthorizationToken',
    // State machine role: vended log delivery (logging) and X-Ray (tracing).
    'logs:CreateLogDelivery',
    'logs:GetLogDelivery',
    'logs:UpdateLogDelivery',
    'logs:DeleteLogDelivery',
    'logs:ListLogDeliveries',
    'logs:PutResourcePolicy',
    'logs:DescribeResourcePolicies',
    'logs:DescribeLogGroups',
    'xray:PutTraceSegments',
    'xray:PutTelemetryRecords',
    'xray:GetSamplingRules',
    'xray:GetSamplingTargets',
  ]);

  test('no Action "*"; Resource "*" only for actions that cannot be scoped', () => {
    const all = statements();
    expect(all.length).toBeGreaterThan(20);
    for (const s of all) {
      expect(s.Action.filter((a) => a === '*' || a.endsWith(':*'))).toEqual([]);
      if (s.Resource.includes('*')) {
        expect({ policy: s.policy, unscopable: s.Action.filter((a) => !starOnly.has(a)) }).toEqual({ policy: s.policy, unscopable: [] });
      }
    }
  });

  test('AwsSolutions checks report no unacknowledged error', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const errors = report.violations
      .filter((v) => v.severity === 'error')
      .map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(errors).toEqual([]);
  });

  test('the checks do find errors where there are some (the assertion above can fail)', () => {
    const app = new App();
    const bad = new Stack(app, 'Bad');
    new s3.Bucket(bad, 'Open', { blockPublicAccess: s3.BlockPublicAccess.BLOCK_ACLS_ONLY });
    const rules = new AwsSolutionsChecks().validateScope(bad).violations.filter((v) => v.severity === 'error').map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });

  test('acknowledgements name single findings and give reasons; IAM5 is never silenced as a whole', () => {
    const acknowledged: Array<[string, string]> = [];
    const visit = (c: IConstruct) => {
      for (const entry of c.node.metadata) {
        if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
          for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
            const bare = id.replace(/^[A-Za-z-]+::/, '');
            if (bare.startsWith('AwsSolutions-')) acknowledged.push([bare, String(reason)]);
          }
        }
      }
      c.node.children.forEach(visit);
    };
    visit(stack);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) {
      if (id.startsWith('AwsSolutions-IAM5')) expect(id).toMatch(/^AwsSolutions-IAM5\[(Action|Resource)::.+\]$/);
      expect({ id, long: reason.length >= 40 }).toEqual({ id, long: true });
    }
  });
});
