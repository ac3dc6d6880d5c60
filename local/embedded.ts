/**
 * The embedded default: all of Runway in one process with no AWS — the same handlers, the same
 * state-machine definition, the real terraform — over an embedded DynamoDB and DATA_DIR.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileBlobStore } from '../functions/adapters/blobs/files.js';
import { createDocumentClient, DynamoStore } from '../functions/adapters/dynamodb/store.js';
import { LocalSecrets } from '../functions/adapters/secrets/local.js';
import { HttpWebhooks } from '../functions/adapters/http/webhooks.js';
import { MemoryMetrics } from '../functions/adapters/metrics/memory.js';
import { AuditLog } from '../functions/core/audit.js';
import type { Deps } from '../functions/core/deps.js';
import { newToken, sha256 } from '../functions/core/ids.js';
import { recoverInterrupted } from '../functions/core/runs.js';
import { LiveLogSink } from '../functions/core/viewers.js';
import { handler as api } from '../functions/handlers/http/api.js';
import { handler as afterPhase } from '../functions/handlers/workflow/after-phase.js';
import { handler as awaitConfirmation } from '../functions/handlers/workflow/await-confirmation.js';
import { handler as begin } from '../functions/handlers/workflow/begin.js';
import { handler as finalize } from '../functions/handlers/workflow/finalize.js';
import { handler as websocket } from '../functions/handlers/websocket/handler.js';
import { handler as decideStage } from '../functions/handlers/workflow/decide-stage.js';
import { handler as dispatch } from '../functions/handlers/workflow/dispatch.js';
import { handler as markResult } from '../functions/handlers/workflow/mark-result.js';
import { handler as prepareStage } from '../functions/handlers/workflow/prepare-stage.js';
import { setDeps, settingsFromEnv } from '../functions/services.js';
import { startDynamo } from './dynamodb.js';
import { createHttpServer } from './http-server.js';
import { LocalWebSocketGateway } from './websocket.js';
import { buildRunner, LocalRunners } from './runners.js';
import { LOCAL_REFS, LocalWorkflow } from './workflow.js';

export interface EmbeddedOptions {
  port?: number;
  host?: string;
  dataDir?: string;
  adminToken?: string;
  terraformBin?: string;
  /** log lines of the process (JSON); silent when omitted */
  log?: (entry: Record<string, unknown>) => void;
  env?: NodeJS.ProcessEnv;
}

export interface Embedded {
  url: string;
  port: number;
  adminToken: string;
  dataDir: string;
  deps: Deps;
  /** runs that were in flight at the previous stop and were ended `errored` at this start */
  recovered: number[];
  /** the embedded DynamoDB's endpoint (tests inspect and tamper with stored items through it) */
  dynamoEndpoint: string;
  /** the WebSocket API (live logs) */
  sockets: LocalWebSocketGateway;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TABLE = 'runway';

function adminTokenFor(dataDir: string, given?: string): { token: string; generated: boolean } {
  if (given) return { token: given, generated: false };
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), generated: false };
  const token = newToken('rwadmin');
  writeFileSync(file, token, { mode: 0o600 });
  return { token, generated: true };
}

export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<Embedded> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const dataDir = resolve(opts.dataDir ?? env.DATA_DIR ?? '.data');
  mkdirSync(dataDir, { recursive: true });
  const terraformBin = opts.terraformBin ?? env.TERRAFORM_BIN ?? 'terraform';

  // Working directories of runners that were killed with the last process.
  rmSync(join(dataDir, 'work'), { recursive: true, force: true });
  const [dynamo, bundle] = await Promise.all([startDynamo(join(dataDir, 'dynamodb'), TABLE), buildRunner()]);
  const store = new DynamoStore(createDocumentClient(dynamo.client), TABLE);
  const admin = adminTokenFor(dataDir, opts.adminToken ?? env.ADMIN_TOKEN);
  await store.upsertUserToken({ user_id: 'user-admin', username: 'admin', role: 'admin', teams: [], created_at: new Date(0).toISOString() }, sha256(admin.token));

  // WEBSOCKET_MANAGEMENT_ENDPOINT is added once the server listens (runners post live lines there).
  const runnerEnv: Record<string, string> = {
    RUNWAY_PLATFORM: 'local',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    TABLE_NAME: TABLE,
    DATA_DIR: dataDir,
    RUNWAY_WORK_DIR: join(dataDir, 'work'),
    TERRAFORM_BIN: terraformBin,
    TF_PLUGIN_CACHE_DIR: env.TF_PLUGIN_CACHE_DIR ?? '',
  };
  const runners = new LocalRunners(bundle, runnerEnv, log);
  const workflow = new LocalWorkflow({
    lambdas: {
      [LOCAL_REFS.beginFunctionArn]: begin,
      [LOCAL_REFS.prepareStageFunctionArn]: prepareStage,
      [LOCAL_REFS.dispatchFunctionArn]: dispatch,
      [LOCAL_REFS.markResultFunctionArn]: markResult,
      [LOCAL_REFS.decideStageFunctionArn]: decideStage,
      [LOCAL_REFS.afterPhaseFunctionArn]: afterPhase,
      [LOCAL_REFS.awaitConfirmationFunctionArn]: awaitConfirmation,
      [LOCAL_REFS.finalizeFunctionArn]: finalize,
    } as never,
    runRunner: (taskId, phase, workspaceId) => runners.run(taskId, phase, workspaceId),
    onError: (taskId, err) => log({ level: 'ERROR', message: 'execution failed', task_id: taskId, error: (err as Error).message }),
  });

  // Live logs: the WebSocket API at /ws and its @connections management endpoint (local/websocket.ts).
  const sockets = new LocalWebSocketGateway({
    handler: websocket,
    sendBufferBytes: env.WEBSOCKET_SEND_BUFFER_BYTES ? Number(env.WEBSOCKET_SEND_BUFFER_BYTES) : undefined,
    pingIntervalMs: env.WEBSOCKET_PING_INTERVAL_MS ? Number(env.WEBSOCKET_PING_INTERVAL_MS) : undefined,
    log,
  });
  const server: Server = createHttpServer({ api, maxBodyBytes: 12 * 1024 * 1024, webRoot: join(ROOT, 'web', 'dist'), extra: sockets.management });
  sockets.attach(server);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? Number(env.PORT ?? 8080), opts.host ?? env.HOST ?? '127.0.0.1', () => res());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  runnerEnv.WEBSOCKET_MANAGEMENT_ENDPOINT = url;
  runners.warm();
  // The embedded default runs everything on one machine: loopback receivers are allowed (SPEC §5).
  const settings = settingsFromEnv({ ALLOW_LOOPBACK_RUN_TASKS: 'true', ...env, PUBLIC_URL: env.PUBLIC_URL ?? url });
  const metrics = new MemoryMetrics();
  const deps: Deps = {
    store,
    blobs: new FileBlobStore(join(dataDir, 'blobs')),
    secrets: new LocalSecrets(join(dataDir, 'secret.key')),
    workflow,
    runner: runners,
    // This server's own handlers reach viewers in process; runners use the HTTP endpoint.
    connections: sockets,
    // Lines this server writes (run-task stages) reach viewers at once, as from a Lambda on AWS.
    sink: new LiveLogSink(store, sockets),
    webhooks: new HttpWebhooks(settings.runTasks.addresses),
    metrics,
    audit: new AuditLog(store),
    settings,
  };
  setDeps(deps);

  const recovered = await recoverInterrupted(deps);
  if (recovered.length) log({ level: 'WARN', message: 'runs in flight at the last stop were ended errored', task_ids: recovered });
  if (admin.generated) log({ level: 'INFO', message: 'generated an admin token, stored in DATA_DIR/admin-token' });

  return {
    url,
    port,
    adminToken: admin.token,
    dataDir,
    deps,
    recovered,
    dynamoEndpoint: dynamo.endpoint,
    sockets,
    async stop() {
      await sockets.stop();
      await new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      });
      await runners.killAll();
      await workflow.stop();
      await dynamo.stop();
    },
  };
}
