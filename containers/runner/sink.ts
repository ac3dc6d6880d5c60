/**
 * Live log delivery from the runner: after each stored batch, the batch goes to the run's viewers
 * through the WebSocket management API (WEBSOCKET_MANAGEMENT_ENDPOINT: the API Gateway stage on
 * AWS, the embedded default's `@connections` endpoint locally). Without it, lines are only stored.
 */
import { connectionsFromEnv } from '../../functions/adapters/sockets/management-api.js';
import type { LogSink, Store } from '../../functions/core/ports.js';
import { LiveLogSink } from '../../functions/core/viewers.js';

/** A sink per phase (each its own poster), all over one management-API client (its connections stay open). */
export function createLogSinkFactory(store: Store, env: NodeJS.ProcessEnv = process.env): () => LogSink | undefined {
  const connections = connectionsFromEnv(env);
  return () => (connections ? new LiveLogSink(store, connections) : undefined);
}
