/**
 * The HTTP API (`/api/v1/*`): an API Gateway HTTP API whose `$default` route sends every request
 * (payload format 2.0) to one Lambda, which routes it (middy http-router) and authenticates the
 * Bearer token itself.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource } from '../nag.js';
import type { Data } from './data.js';
import { RunwayFunction } from './function.js';
import { RunStateMachineIdentity } from './workflow.js';

export interface ApiProps {
  readonly data: Data;
  /** The shared runtime environment; PUBLIC_URL is added here. */
  readonly environment: Record<string, string>;
  /** The runner cluster, whose tasks the API may stop (cancel with `?force=true`). */
  readonly runnerCluster: ecs.ICluster;
  /** ARN pattern of the runner cluster's tasks. */
  readonly runnerTaskArnPattern: string;
  /** @default rate 50 requests/s, burst 100 */
  readonly throttle?: apigw.ThrottleSettings;
}

export class Api extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly handler: RunwayFunction;
  /** Base URL of the API (the `$default` stage has no path prefix). */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `${stack.stackName}-api`,
      description: 'Runway HTTP API (/api/v1)',
      // The default stage is created below, with access logs and throttling.
      createDefaultStage: false,
    });
    this.url = this.httpApi.apiEndpoint;

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.jsonWithStandardFields(),
      },
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
    });

    this.handler = new RunwayFunction(this, 'Handler', {
      entry: 'functions/handlers/http/api.ts',
      description: 'Runway HTTP API',
      environment: { ...props.environment, PUBLIC_URL: this.url },
      // API Gateway gives up on an integration after 30 s.
      timeout: Duration.seconds(29),
      memorySize: 1024,
    });

    const route = new apigw.HttpRoute(this, 'DefaultRoute', {
      httpApi: this.httpApi,
      routeKey: apigw.HttpRouteKey.DEFAULT,
      integration: new HttpLambdaIntegration('Handler', this.handler.function, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      }),
    });
    Validations.of(route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'The API Lambda authenticates every request itself (Bearer user tokens and one-time run-task access tokens, which an API Gateway authorizer cannot validate per run) and answers 401 before doing anything else.',
    });
    Validations.of(route).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'Runway issues its own API tokens (users and run-task callbacks, as HCP Terraform does); there is no Cognito user pool to authorize against.',
    });

    props.data.grantRuntimeAccess(this.handler.role, 'encrypt-decrypt');

    const runs = RunStateMachineIdentity.import(this, 'RunStateMachineRef');
    runs.grantStartExecution(this.handler);
    // Confirm/discard an apply, and run-task callbacks (PATCH …/run-task-results/{id}/callback):
    // SendTaskSuccess on a final status, SendTaskHeartbeat on `running`.
    runs.grantTaskResponse(this.handler);
    // Cancel: look at and stop the run's execution.
    runs.grantExecution(this.handler, 'states:DescribeExecution', 'states:StopExecution');
    acknowledgeWildcardResource(
      this.handler.role,
      `${RunStateMachineIdentity.executionArnPrefix(stack)}:*`,
      'One execution per run, named at run time: the pattern names only executions of the Runway run state machine.',
    );
    // Cancel with ?force=true stops the runner task at once. Task ARNs are not known in advance:
    // scoped to this cluster's tasks.
    this.handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:StopTask'],
        resources: [props.runnerTaskArnPattern],
        conditions: { ArnEquals: { 'ecs:cluster': props.runnerCluster.clusterArn } },
      }),
    );
    acknowledgeWildcardResource(
      this.handler.role,
      props.runnerTaskArnPattern,
      'Task ids are assigned when the task starts: the pattern names only tasks of the Runway runner cluster, and the ecs:cluster condition pins it again.',
    );
  }
}
