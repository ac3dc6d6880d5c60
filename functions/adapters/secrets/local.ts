/** Secrets with AES-256-GCM and a key file (the embedded default). Format: v1:<iv>:<tag>:<data>, base64. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Secrets } from '../../core/ports.js';

export class LocalSecrets implements Secrets {
  private readonly key: Buffer;

  constructor(keyFile: string) {
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true });
      writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    this.key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (this.key.length !== 32) throw new Error('secret key file must hold 32 bytes, base64');
  }

  async encrypt(plain: string): Promise<string> {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  async decrypt(cipher: string): Promise<string> {
    const [v, iv, tag, data] = cipher.split(':');
    if (v !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a v1 secret');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(data, 'base64')), d.final()]).toString('utf8');
  }
}
