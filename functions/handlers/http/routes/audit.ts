/** Audit hook of the HTTP layer: appends an event for a change (SPEC §7); the chain itself lives in core. */
import type { Request } from '../http.js';

export async function audit(req: Request, action: string, resource: string, details: Record<string, unknown> = {}): Promise<void> {
  const actor = req.principal?.username ?? (req.runTaskBearer ? 'run-task-token' : 'anonymous');
  await req.deps.audit?.append({ actor, action, resource, details });
}
