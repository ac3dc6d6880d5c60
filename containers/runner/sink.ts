/** Live log delivery from the runner. Viewers over WebSockets come with the live-logs work; until then none. */
import type { LogSink, Store } from '../../functions/core/ports.js';

export function createLogSinkFromEnv(_store: Store): LogSink | undefined {
  return undefined;
}
