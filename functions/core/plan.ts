/** Reading `terraform show -json` of a plan. */
import type { PlanChanges } from './model.js';

interface ResourceChange {
  change?: { actions?: string[] };
}
export interface PlanJson {
  resource_changes?: ResourceChange[];
  output_changes?: Record<string, { actions?: string[] }>;
}

export function planChanges(plan: PlanJson): PlanChanges {
  const c = { add: 0, change: 0, destroy: 0 };
  for (const rc of plan.resource_changes ?? []) {
    const a = rc.change?.actions ?? [];
    if (a.includes('create')) c.add++;
    if (a.includes('delete')) c.destroy++;
    if (a.includes('update')) c.change++;
  }
  return c;
}

/** Whether applying would change anything (resources or outputs). */
export function hasChanges(plan: PlanJson): boolean {
  const changing = (a: string[] = []) => a.some((x) => x !== 'no-op' && x !== 'read');
  return (plan.resource_changes ?? []).some((rc) => changing(rc.change?.actions)) || Object.values(plan.output_changes ?? {}).some((o) => changing(o.actions));
}

/**
 * The plan JSON as Runway keeps and serves it: `terraform show -json` prints every root variable's
 * value, sensitive ones included, so the workspace's sensitive values are masked (`***`) wherever
 * they appear, and sensitive root variables lose their value altogether.
 */
export function redactPlan<T>(plan: T, sensitive: { key: string; value: string }[], mask: (s: string) => string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return mask(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const out = walk(plan) as T & { variables?: Record<string, { value?: unknown }> };
  for (const { key } of sensitive) if (out.variables?.[key]) out.variables[key] = { ...out.variables[key], value: '***' };
  return out;
}
