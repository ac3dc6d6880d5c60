/** Secrets with AWS KMS (the key declared in infra/constructs/data.ts). */
import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { Secrets } from '../../core/ports.js';

export class KmsSecrets implements Secrets {
  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
  ) {}

  async encrypt(plain: string): Promise<string> {
    const r = await this.kms.send(new EncryptCommand({ KeyId: this.keyId, Plaintext: Buffer.from(plain, 'utf8') }));
    return `kms:${Buffer.from(r.CiphertextBlob!).toString('base64')}`;
  }

  async decrypt(cipher: string): Promise<string> {
    if (!cipher.startsWith('kms:')) throw new Error('not a KMS secret');
    const r = await this.kms.send(new DecryptCommand({ KeyId: this.keyId, CiphertextBlob: Buffer.from(cipher.slice(4), 'base64') }));
    return Buffer.from(r.Plaintext!).toString('utf8');
  }
}
