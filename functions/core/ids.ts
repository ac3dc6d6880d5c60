import { createHash, randomBytes } from 'node:crypto';

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Sortable, unique ids with a prefix: time first, so newer sorts later. */
export function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36).padStart(9, '0')}${randomBytes(5).toString('hex')}`;
}

/** Bearer tokens: 32 random bytes; only their SHA-256 is stored. */
export const newToken = (prefix = 'rw') => `${prefix}_${randomBytes(32).toString('base64url')}`;
