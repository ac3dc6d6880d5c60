/**
 * The ConnectionsApi port on the API Gateway management API (`@connections`), with the real SDK
 * client: on AWS against the WebSocket API's stage, in the embedded default against its local
 * `@connections` endpoint (local/websocket.ts). The endpoint comes from configuration
 * (WEBSOCKET_MANAGEMENT_ENDPOINT), never from the event: behind a custom domain or in an
 * emulator `domainName`/`stage` do not name it.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  type ApiGatewayManagementApiClientConfig,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionsApi, PostResult } from '../../core/ports.js';
import { localClientOptions } from '../unsigned.js';

export interface ManagementApiOptions {
  /** `https://<api>.execute-api.<region>.amazonaws.com/<stage>`, or `http://127.0.0.1:<PORT>` locally */
  endpoint: string;
  /** the embedded default: fixed credentials and region (it does not check signatures) */
  local?: boolean;
  /** one post never takes longer than this: a viewer is never waited for beyond it */
  requestTimeoutMs?: number;
}

/** Carries the close reason to the embedded default's endpoint (API Gateway ignores it). */
export const CLOSE_REASON_HEADER = 'x-runway-close-reason';

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export class ManagementApiConnections implements ConnectionsApi {
  readonly client: ApiGatewayManagementApiClient;

  constructor(opts: ManagementApiOptions) {
    const timeout = opts.requestTimeoutMs ?? 2000;
    // Keep-alive: a busy run posts hundreds of batches a second to each viewer.
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.client = new ApiGatewayManagementApiClient({
      endpoint: opts.endpoint,
      // Resolves each command's middleware once, not per send: a third of a post's CPU otherwise.
      cacheMiddleware: true,
      maxAttempts: 1, // a failed post drops the viewer, who catches up from the store: no retry waits
      requestHandler: { requestTimeout: timeout, connectionTimeout: timeout, httpAgent: new HttpAgent(agentOptions), httpsAgent: new HttpsAgent(agentOptions) },
      // Locally nothing checks signatures: skip SigV4 (hashing every 32 KB body costs a third of a post).
      ...(opts.local ? (localClientOptions as unknown as ApiGatewayManagementApiClientConfig) : {}),
    });
    // On the client, not per command: with cached middleware a command's own stack is resolved once.
    this.client.middlewareStack.add(
      (next) => async (args) => {
        const reason = this.closeReasons.get((args.input as { ConnectionId?: string }).ConnectionId ?? '');
        const request = args.request as { headers?: Record<string, string> };
        if (reason && request.headers) request.headers[CLOSE_REASON_HEADER] = encodeURIComponent(reason);
        return next(args);
      },
      { step: 'build', name: 'runwayCloseReason' },
    );
  }

  /** reasons of the closes in flight, by connection id */
  private readonly closeReasons = new Map<string, string>();

  async post(connectionId: string, data: string | Uint8Array): Promise<PostResult> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: typeof data === 'string' ? Buffer.from(data) : data }));
      return 'ok';
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'GoneException' || statusOf(err) === 410) return 'gone';
      if (name === 'LimitExceededException' || statusOf(err) === 429) return 'throttled';
      return 'failed';
    }
  }

  async exists(connectionId: string): Promise<boolean> {
    try {
      await this.client.send(new GetConnectionCommand({ ConnectionId: connectionId }));
      return true;
    } catch (err) {
      if ((err as Error).name === 'GoneException' || statusOf(err) === 410) return false;
      throw err;
    }
  }

  async close(connectionId: string, reason?: string): Promise<void> {
    if (reason) this.closeReasons.set(connectionId, reason);
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (err) {
      if ((err as Error).name === 'GoneException' || statusOf(err) === 410) return; // already gone
      throw err;
    } finally {
      if (reason) this.closeReasons.delete(connectionId);
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** From the environment: WEBSOCKET_MANAGEMENT_ENDPOINT (absent: no live viewers). */
export function connectionsFromEnv(env: NodeJS.ProcessEnv = process.env): ManagementApiConnections | undefined {
  const endpoint = env.WEBSOCKET_MANAGEMENT_ENDPOINT;
  if (!endpoint) return undefined;
  return new ManagementApiConnections({ endpoint, local: env.RUNWAY_PLATFORM !== 'aws' });
}
