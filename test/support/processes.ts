/** Processes as Linux's /proc shows them, for tests that look at runners and terraform from outside. */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The fields of a `stat` file after the command name ("pid (comm) state ppid …"; comm may hold
 * spaces and parentheses, so they are read after the last ')'): [0] state, [1] ppid, [16] nice.
 */
export function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Every process's parent, by pid (those that exit while being read are left out). */
export function parentsOf(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(Number(entry), Number(statFields(`/proc/${entry}/stat`)[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  return parents;
}

/** Descendants of `pid` (runners, terraform, its provisioners). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const [child, parent] of parentsOf()) children.set(parent, [...(children.get(parent) ?? []), child]);
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}
