/** Where the repository is, resolved from this file at run time (never a machine-specific path). */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** An absolute path to a file of the repository, from its repository-relative path. */
export function repoPath(relative: string): string {
  return join(REPO_ROOT, relative);
}
