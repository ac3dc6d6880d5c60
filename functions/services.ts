/**
 * Composition root: builds the ports from the environment. On AWS every Lambda and the runner
 * call `depsFromEnv()`; the embedded default builds the local ports itself and installs them with
 * `setDeps()` before serving, so the same handlers run in both places.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { localClientOptions } from './adapters/unsigned.js';
import { ECSClient } from '@aws-sdk/client-ecs';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { FileBlobStore } from './adapters/blobs/files.js';
import { S3BlobStore } from './adapters/blobs/s3.js';
import { createDocumentClient, DynamoStore } from './adapters/dynamodb/store.js';
import { EcsRunnerControl } from './adapters/runner/ecs.js';
import { KmsSecrets } from './adapters/secrets/kms.js';
import { LocalSecrets } from './adapters/secrets/local.js';
import { StepFunctionsWorkflow } from './adapters/workflow/sfn.js';
import type { Deps, Settings } from './core/deps.js';
import { connectionsFromEnv } from './adapters/sockets/management-api.js';
import { LiveLogSink } from './core/viewers.js';
import { policyFromEnv } from './core/network.js';
import { AuditLog } from './core/audit.js';
import { HttpWebhooks } from './adapters/http/webhooks.js';
import { EmfMetrics } from './adapters/metrics/emf.js';
import type { RunnerControl, Workflow } from './core/ports.js';

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  return {
    publicUrl: (env.PUBLIC_URL ?? `http://127.0.0.1:${env.PORT ?? 8080}`).replace(/\/$/, ''),
    maxConfigBytes: Number(env.MAX_CONFIG_BYTES ?? 10 * 1024 * 1024),
    maxJsonBytes: Number(env.MAX_JSON_BYTES ?? 6 * 1024 * 1024),
    version: VERSION,
    maxConcurrentRuns: env.MAX_CONCURRENT_RUNS ? Math.max(1, Number(env.MAX_CONCURRENT_RUNS)) : null,
    runTasks: {
      minTimeoutSeconds: Number(env.RUN_TASK_MIN_TIMEOUT_SECONDS ?? 60),
      attemptTimeoutMs: Number(env.RUN_TASK_ATTEMPT_TIMEOUT_MS ?? 10_000),
      attempts: 3,
      retryBaseMs: Number(env.RUN_TASK_RETRY_BASE_MS ?? 1000),
      addresses: policyFromEnv(env),
    },
  };
}

/** DynamoDB client: AWS, or the embedded DynamoDB when DYNAMODB_ENDPOINT is set. */
export function dynamoClient(env: NodeJS.ProcessEnv = process.env): DynamoDBClient {
  if (env.DYNAMODB_ENDPOINT) {
    return new DynamoDBClient({ endpoint: env.DYNAMODB_ENDPOINT, ...(localClientOptions as unknown as DynamoDBClientConfig) });
  }
  return new DynamoDBClient({});
}

/** The ports a runner needs (store, blobs, secrets), for AWS or for the embedded default's DATA_DIR. */
export function runnerDepsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const store = new DynamoStore(createDocumentClient(dynamoClient(env)), env.TABLE_NAME ?? 'runway');
  if (env.RUNWAY_PLATFORM === 'aws') {
    return { store, blobs: new S3BlobStore(new S3Client({}), required(env, 'BLOB_BUCKET')), secrets: new KmsSecrets(new KMSClient({}), required(env, 'KMS_KEY_ID')) };
  }
  const dataDir = required(env, 'DATA_DIR');
  return { store, blobs: new FileBlobStore(join(dataDir, 'blobs')), secrets: new LocalSecrets(join(dataDir, 'secret.key')) };
}

let current: Deps | null = null;

export function setDeps(deps: Deps): void {
  current = deps;
}

/** The process's ports: those installed by the embedded default, or AWS's built from the environment. */
export function getDeps(): Deps {
  if (current) return current;
  const env = process.env;
  const base = runnerDepsFromEnv(env);
  const workflow: Workflow = new StepFunctionsWorkflow(new SFNClient({}), required(env, 'STATE_MACHINE_ARN'));
  const runner: RunnerControl = new EcsRunnerControl(new ECSClient({}), required(env, 'RUNNER_CLUSTER_ARN'), base.store);
  const settings = settingsFromEnv(env);
  // Live-log viewers (WEBSOCKET_MANAGEMENT_ENDPOINT): lines a Lambda writes reach them too.
  const connections = connectionsFromEnv(env);
  const sink = connections ? new LiveLogSink(base.store, connections) : undefined;
  const deps: Deps = { ...base, workflow, runner, connections, sink, webhooks: new HttpWebhooks(settings.runTasks.addresses), metrics: new EmfMetrics(), audit: new AuditLog(base.store), settings };
  current = deps;
  return deps;
}
