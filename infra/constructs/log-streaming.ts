/**
 * Live logs (SPEC §6): an API Gateway WebSocket API whose routes — `$connect` (authorizes the
 * bearer token of `?token=`), `$disconnect`, `subscribe`, `ping` and `$default` — go to one Lambda
 * (functions/handlers/websocket/handler.ts). Connections and subscriptions are items of the one
 * Runway table (`WSCONN#<connection>`, `CONN#<task>/<connection>`, with `ttl`), not a table of
 * their own. The runner, Finalize (and the API, for a queued run that is cancelled) post to
 * viewers through the stage's management API (`@connections`), allowed
 * `execute-api:ManageConnections` on this stage only.
 *
 * Access logs of a WebSocket (or REST) API need the API Gateway account's CloudWatch Logs role to
 * be set once per account and region (docs/live-logs.md).
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag.js';
import type { Api } from './api.js';
import type { Data } from './data.js';
import { RunwayFunction } from './function.js';
import type { Runner } from './runner.js';
import type { Workflow } from './workflow.js';

/** The routes besides $connect/$disconnect/$default (local/websocket.ts routes the same). */
export const WEBSOCKET_ROUTES = ['subscribe', 'ping'] as const;

export interface LogStreamingProps {
  readonly data: Data;
  /** The Lambdas' runtime environment (the WebSocket handler builds the same ports as the others). */
  readonly environment: Record<string, string>;
  /** Told the WebSocket URL (GET /api/v1/meta → websocket_url); posts `completed` when a queued run is cancelled. */
  readonly api: Api;
  /** Its runner container posts every stored batch of lines to the run's viewers. */
  readonly runner: Runner;
  /** Its Finalize step posts the lines no runner sent, then `completed`. */
  readonly workflow: Workflow;
  /** @default stage `live` */
  readonly stageName?: string;
  /** Messages from clients (subscribe, ping). @default rate 100/s, burst 200 */
  readonly throttle?: apigw.ThrottleSettings;
}

export class LogStreaming extends Construct {
  readonly webSocketApi: apigw.WebSocketApi;
  readonly stage: apigw.WebSocketStage;
  readonly handler: RunwayFunction;
  /** `wss://…/<stage>`: what viewers connect to */
  readonly url: string;
  /** `https://…/<stage>`: the management API (WEBSOCKET_MANAGEMENT_ENDPOINT) */
  readonly managementEndpoint: string;

  constructor(scope: Construct, id: string, props: LogStreamingProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.webSocketApi = new apigw.WebSocketApi(this, 'WebSocketApi', {
      apiName: `${stack.stackName}-live-logs`,
      description: 'Runway live logs: subscribe to a run, receive its lines',
      routeSelectionExpression: '$request.body.action',
    });
    const stageName = props.stageName ?? 'live';
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.stage = new apigw.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName,
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 100, burstLimit: 200 },
      // The default WebSocket format: source IP, event, route, connection and status. Never the
      // query string (it carries the bearer token); execution logging stays off for the same reason.
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs) },
    });
    this.url = this.stage.url;
    this.managementEndpoint = this.stage.callbackUrl;

    this.handler = new RunwayFunction(this, 'Handler', {
      entry: 'functions/handlers/websocket/handler.ts',
      description: 'Runway live logs: WebSocket $connect/$disconnect/subscribe/ping',
      environment: { ...props.environment, WEBSOCKET_MANAGEMENT_ENDPOINT: this.managementEndpoint },
      // A subscribe replays the stored history before the viewer goes live; a long log takes a while.
      timeout: Duration.minutes(5),
    });
    // Its records: connections and subscriptions in the table; the log chunks it replays.
    props.data.table.grantReadWriteData(this.handler.role);
    this.acknowledgeTableGrant(this.handler.role, props.data);
    this.grantPost(this.handler.role);

    const integration = new WebSocketLambdaIntegration('Handler', this.handler.function);
    for (const routeKey of ['$connect', '$disconnect', '$default', ...WEBSOCKET_ROUTES]) {
      const route = this.webSocketApi.addRoute(routeKey, { integration });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          routeKey === '$connect'
            ? 'The $connect Lambda authorizes the Runway bearer token of ?token= (browsers cannot set headers on a WebSocket; an API Gateway authorizer cannot check Runway tokens) and refuses the connection with 401 before it opens.'
            : 'WebSocket APIs authorize on $connect only (API Gateway allows no authorizer on other routes); this route is reachable only on a connection the $connect Lambda accepted, and subscribe checks the user may see the run.',
      });
    }

    // Producers of lines reach viewers through this stage's management API only.
    props.runner.container.addEnvironment('WEBSOCKET_MANAGEMENT_ENDPOINT', this.managementEndpoint);
    this.grantPost(props.runner.taskDefinition.taskRole);
    props.workflow.finalize.function.addEnvironment('WEBSOCKET_MANAGEMENT_ENDPOINT', this.managementEndpoint);
    this.grantPost(props.workflow.finalize.role);
    props.api.handler.function.addEnvironment('WEBSOCKET_URL', this.url);
    // Cancelling a queued run (no workflow ran, so no Finalize) tells its viewers from the API.
    props.api.handler.function.addEnvironment('WEBSOCKET_MANAGEMENT_ENDPOINT', this.managementEndpoint);
    this.grantPost(props.api.handler.role);
  }

  /** `execute-api:ManageConnections` on this stage's `@connections` (post, get, delete). */
  grantPost(role: iam.IRole): void {
    this.stage.grantManagementApiAccess(role);
    acknowledgeWildcardResource(
      role,
      `${Stack.of(this).formatArn({ service: 'execute-api', resource: this.webSocketApi.apiId })}/${this.stage.stageName}/*/@connections/*`,
      'Connection ids are assigned by API Gateway when a viewer connects: the pattern names only the @connections of the Runway live-log stage.',
    );
  }

  private acknowledgeTableGrant(role: iam.IRole, data: Data): void {
    acknowledgeWildcardResource(role, `${data.table.tableArn}/index/*`, 'Queries on the Runway table\'s own secondary index (gsi1: a user\'s connections, all subscriptions for the streams stats).');
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      acknowledgeWildcardAction(role, action, 'Action groups Table.grantReadWriteData adds for the table\'s customer-managed key, on that one key only.');
    }
  }
}
