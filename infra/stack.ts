/**
 * The one Runway stack, put together from one construct per concern. Environment-agnostic (no
 * `env`, no lookups), so `cdk synth` needs neither credentials nor network.
 *
 * Later constructs (live-log WebSocket API, web UI) plug in here, next to the others.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Api } from './constructs/api.js';
import { Data } from './constructs/data.js';
import { LogStreaming } from './constructs/log-streaming.js';
import { Runner } from './constructs/runner.js';
import { Web } from './constructs/web.js';
import { RunStateMachineIdentity, Workflow } from './constructs/workflow.js';

export interface RunwayStackProps extends StackProps {
  /** NAT gateways of the runner VPC. @default 1 */
  readonly natGateways?: number;
  /** The built web UI (index.html and assets). @default web/dist of the repository (`npm run build:web`) */
  readonly webDist?: string;
}

export class RunwayStack extends Stack {
  readonly data: Data;
  readonly runner: Runner;
  readonly api: Api;
  readonly workflow: Workflow;
  readonly logStreaming: LogStreaming;
  readonly web: Web;

  constructor(scope: Construct, id: string, props: RunwayStackProps = {}) {
    super(scope, id, { description: 'Runway: runs Terraform for teams', ...props });

    this.data = new Data(this, 'Data');

    // What every Lambda and the runner container are told (see functions/ for the readers).
    const shared: Record<string, string> = {
      RUNWAY_PLATFORM: 'aws',
      TABLE_NAME: this.data.table.tableName,
      BLOB_BUCKET: this.data.blobs.bucketName,
      KMS_KEY_ID: this.data.key.keyArn,
      STATE_MACHINE_ARN: RunStateMachineIdentity.arnFor(this),
      POWERTOOLS_SERVICE_NAME: 'runway',
    };

    this.runner = new Runner(this, 'Runner', {
      data: this.data,
      environment: shared,
      natGateways: props.natGateways,
    });

    // Metrics leave the Lambdas as CloudWatch EMF log lines (Powertools): no extra permission.
    const lambdaEnvironment = { ...shared, RUNNER_CLUSTER_ARN: this.runner.cluster.clusterArn, POWERTOOLS_METRICS_NAMESPACE: 'Runway' };

    this.api = new Api(this, 'Api', {
      data: this.data,
      environment: lambdaEnvironment,
      runnerCluster: this.runner.cluster,
      runnerTaskArnPattern: this.runner.taskArnPattern,
    });

    this.workflow = new Workflow(this, 'Workflow', {
      data: this.data,
      runner: this.runner,
      environment: { ...lambdaEnvironment, PUBLIC_URL: this.api.url },
    });

    // Live logs: the WebSocket API; tells the runner, Finalize and the API where it is.
    this.logStreaming = new LogStreaming(this, 'LogStreaming', {
      data: this.data,
      environment: lambdaEnvironment,
      api: this.api,
      runner: this.runner,
      workflow: this.workflow,
    });

    // The web UI from S3 behind CloudFront, which also routes /api/* to the HTTP API.
    this.web = new Web(this, 'Web', {
      apiUrl: this.api.url,
      webSocketUrl: this.logStreaming.url,
      accessLogsBucket: this.data.accessLogs,
      webDist: props.webDist,
    });
    // PUBLIC_URL becomes the UI's origin (replacing the API endpoint these were built with): meta's
    // api_url, and the run links of run-task payloads (`<PUBLIC_URL>/workspaces/…`, UI routes the
    // API host does not serve); its /api/v1 reaches the same API.
    for (const fn of [this.api.handler, ...this.workflow.functions]) fn.function.addEnvironment('PUBLIC_URL', this.web.url);

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'StateMachineArn', { value: this.workflow.stateMachine.stateMachineArn });
    new CfnOutput(this, 'TableName', { value: this.data.table.tableName });
    new CfnOutput(this, 'BlobBucketName', { value: this.data.blobs.bucketName });
    new CfnOutput(this, 'WebSocketUrl', { value: this.logStreaming.url, description: 'Live logs: wss://…?token=<bearer token>' });
    new CfnOutput(this, 'WebUrl', { value: this.web.url, description: 'The web UI (CloudFront); the API is also under <WebUrl>/api/v1' });
  }
}
