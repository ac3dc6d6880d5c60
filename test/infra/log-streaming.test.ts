/**
 * The live-log WebSocket API in the synthesized stack (infra/constructs/log-streaming.ts): its
 * routes and stage, who is told where it is, and who may post to viewers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { WEBSOCKET_ROUTES } from '../../infra/constructs/log-streaming.js';
import { RunwayStack } from '../../infra/stack.js';
import { ROUTES as LOCAL_ROUTES } from '../../local/websocket.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };

type Json = Record<string, any>;
let stack: RunwayStack;
let resources: Record<string, Json>;

beforeAll(() => {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  stack = new RunwayStack(app, 'Runway');
  resources = Template.fromStack(stack).toJSON().Resources;
});

const logicalId = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** A CloudFormation value as a readable string ({{Ref:X}}, {{GetAtt:X.Y}}). */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Json;
  if (o && 'Fn::Join' in o) return (o['Fn::Join'][1] as unknown[]).map(render).join(o['Fn::Join'][0]);
  if (o && 'Ref' in o) return `{{Ref:${o.Ref}}}`;
  if (o && 'Fn::GetAtt' in o) return `{{GetAtt:${(o['Fn::GetAtt'] as string[]).join('.')}}}`;
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}
const rendered = (token: string) => render(stack.resolve(token));

function lambdaEnv(fn: IConstruct): Record<string, string> {
  return Object.fromEntries(Object.entries(resources[logicalId(fn)].Properties.Environment.Variables as Json).map(([k, v]) => [k, render(v)]));
}

/** Statements of the IAM policies attached to a role. */
function statementsOf(roleId: string): Json[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as Json[]).some((x) => x.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);
}

const actions = (s: Json) => [s.Action].flat() as string[];

/** Roles (by logical id) allowed execute-api:ManageConnections, with the resources. */
function manageConnections(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    for (const s of r.Properties.PolicyDocument.Statement as Json[]) {
      if (!actions(s).some((a) => a === 'execute-api:ManageConnections' || a === 'execute-api:*' || a === '*')) continue;
      for (const role of r.Properties.Roles as Json[]) out.set(role.Ref, [s.Resource].flat().map(render));
    }
  }
  return out;
}

test('a WebSocket API routing on body.action: $connect, $disconnect, $default, subscribe, ping — all to the live-log Lambda', () => {
  const apis = ofType('AWS::ApiGatewayV2::Api').filter(([, r]) => r.Properties.ProtocolType === 'WEBSOCKET');
  expect(apis).toHaveLength(1);
  const [apiId, api] = apis[0];
  expect(apiId).toBe(logicalId(stack.logStreaming.webSocketApi));
  expect(api.Properties.RouteSelectionExpression).toBe('$request.body.action');

  const routes = ofType('AWS::ApiGatewayV2::Route').filter(([, r]) => r.Properties.ApiId.Ref === apiId);
  expect(routes.map(([, r]) => r.Properties.RouteKey).sort()).toEqual(['$connect', '$default', '$disconnect', 'ping', 'subscribe']);
  // The embedded default routes the same actions.
  expect([...LOCAL_ROUTES].sort()).toEqual([...WEBSOCKET_ROUTES].sort());
  const handlerArn = rendered(stack.logStreaming.handler.function.functionArn);
  for (const [, route] of routes) {
    const integrationId = /integrations\/\{\{Ref:(\w+)\}\}$/.exec(render(route.Properties.Target))![1];
    const integration = resources[integrationId].Properties;
    expect(integration.IntegrationType).toBe('AWS_PROXY');
    expect(render(integration.IntegrationUri)).toContain(handlerArn);
  }
  // API Gateway may invoke it.
  const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => render(p.Properties.FunctionName) === handlerArn);
  expect(permissions.length).toBeGreaterThan(0);
  for (const [, p] of permissions) expect(p.Properties.Principal).toBe('apigateway.amazonaws.com');
});

test('stage `live`: auto-deployed, throttled, access logs that never carry the query string (the token)', () => {
  const stage = resources[logicalId(stack.logStreaming.stage)].Properties;
  expect(stage.StageName).toBe('live');
  expect(stage.AutoDeploy).toBe(true);
  expect(stage.DefaultRouteSettings.ThrottlingRateLimit).toBeGreaterThan(0);
  expect(stage.DefaultRouteSettings.DataTraceEnabled ?? false).toBe(false);
  expect(stage.AccessLogSettings.DestinationArn).toBeDefined();
  expect(stage.AccessLogSettings.Format).toContain('$context.connectionId');
  expect(stage.AccessLogSettings.Format).not.toMatch(/querystring|token/i);
});

test('the runner container, Finalize and the API are told the management endpoint; the API the WebSocket URL', () => {
  const endpoint = rendered(stack.logStreaming.managementEndpoint);
  expect(endpoint).toBe(`https://{{Ref:${logicalId(stack.logStreaming.webSocketApi)}}}.execute-api.{{Ref:AWS::Region}}.{{Ref:AWS::URLSuffix}}/live`);
  expect(rendered(stack.logStreaming.url)).toBe(endpoint.replace('https://', 'wss://'));

  const [container] = resources[logicalId(stack.runner.taskDefinition)].Properties.ContainerDefinitions as Json[];
  const containerEnv = Object.fromEntries((container.Environment as Json[]).map((e) => [e.Name, render(e.Value)]));
  expect(containerEnv.WEBSOCKET_MANAGEMENT_ENDPOINT).toBe(endpoint);
  expect(lambdaEnv(stack.workflow.finalize.function).WEBSOCKET_MANAGEMENT_ENDPOINT).toBe(endpoint);
  expect(lambdaEnv(stack.logStreaming.handler.function).WEBSOCKET_MANAGEMENT_ENDPOINT).toBe(endpoint);
  expect(lambdaEnv(stack.api.handler.function)).toMatchObject({ WEBSOCKET_URL: rendered(stack.logStreaming.url), WEBSOCKET_MANAGEMENT_ENDPOINT: endpoint });
  // The live-log Lambda builds the same ports as the others (table, platform).
  expect(lambdaEnv(stack.logStreaming.handler.function)).toMatchObject({ RUNWAY_PLATFORM: 'aws', TABLE_NAME: rendered(stack.data.table.tableName) });
  const outputs = Template.fromStack(stack).toJSON().Outputs as Json;
  expect(render(outputs.WebSocketUrl.Value)).toBe(rendered(stack.logStreaming.url));
});

test('execute-api:ManageConnections on this stage\'s @connections only, for the runner task role, Finalize, the API and the live-log Lambda only', () => {
  const granted = manageConnections();
  const expected = `arn:{{Ref:AWS::Partition}}:execute-api:{{Ref:AWS::Region}}:{{Ref:AWS::AccountId}}:{{Ref:${logicalId(stack.logStreaming.webSocketApi)}}}/live/*/@connections/*`;
  const roles = [stack.runner.taskDefinition.taskRole, stack.workflow.finalize.role, stack.api.handler.role, stack.logStreaming.handler.role].map(logicalId);
  expect([...granted.keys()].sort()).toEqual([...roles].sort());
  for (const role of roles) expect(granted.get(role)).toEqual([expected]);
  // The runner's execution role (image pull, logs) and the other workflow steps get none of it.
  expect(granted.has(logicalId(stack.runner.taskDefinition.obtainExecutionRole()))).toBe(false);
  for (const fn of stack.workflow.functions.filter((f) => f !== stack.workflow.finalize)) expect(granted.has(logicalId(fn.role))).toBe(false);
});

test('the live-log Lambda may use the table (connections, subscriptions, log chunks) and nothing of the blob bucket', () => {
  const statements = statementsOf(logicalId(stack.logStreaming.handler.role));
  const table = rendered(stack.data.table.tableArn);
  const onTable = statements.filter((s) => [s.Resource].flat().map(render).includes(table));
  expect(onTable.flatMap(actions)).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:GetItem']));
  const bucket = rendered(stack.data.blobs.bucketArn);
  expect(statements.some((s) => [s.Resource].flat().map(render).some((r) => r.startsWith(bucket)))).toBe(false);
  expect(resources[logicalId(stack.logStreaming.handler.function)].Properties.Timeout).toBeGreaterThanOrEqual(60);
});

test('cdk-nag: no unacknowledged finding in the live-log construct or the roles it grants to', () => {
  const report = new AwsSolutionsChecks().validateScope(stack);
  const paths = [stack.logStreaming, stack.runner.taskDefinition, stack.workflow.finalize].map((c) => c.node.path);
  const mine = report.violations.filter((v) => v.severity === 'error' && JSON.stringify(v).match(new RegExp(paths.map((p) => p.replace(/[/]/g, '\\/')).join('|'))));
  expect(mine).toEqual([]);
});
