/** The audit chain (SPEC §7), admin only. */
import { requireAdmin } from '../../../core/auth.js';
import { intQuery, json, route } from '../http.js';

export const list = route(async (req) => {
  requireAdmin(req.principal);
  const limit = intQuery(req, 'limit', 1000, 1, 10_000);
  const events = await req.deps.audit.list({ resource: req.query.resource || undefined, actor: req.query.actor || undefined, after: req.query.after || undefined }, limit);
  return json(200, { audit_events: events, count: events.length });
});

export const verify = route(async (req) => {
  requireAdmin(req.principal);
  return json(200, await req.deps.audit.verify());
});
