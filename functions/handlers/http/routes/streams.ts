/** Live-log streams (SPEC §6): the debugging view of seed 001, `GET /api/v1/terraform/streams/stats`. */
import { streamStats } from '../../../core/viewers.js';
import { json, route } from '../http.js';

/** Runs being followed or running, with viewer counts and lines stored; members see their workspaces' runs. */
export const stats = route(async (req) => json(200, await streamStats(req.deps, req.principal)));
