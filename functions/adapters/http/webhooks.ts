/**
 * Webhooks over node:http(s), with the address policy applied to every resolved address at
 * connect time (a name cannot resolve to a metadata address between check and call).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { type AddressPolicy, refuseAddress, refuseUrl } from '../../core/network.js';
import type { Webhooks } from '../../core/ports.js';

const MAX_RESPONSE_BYTES = 64 * 1024;

export class HttpWebhooks implements Webhooks {
  constructor(private readonly policy: AddressPolicy) {}

  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }> {
    const refused = refuseUrl(url, this.policy);
    if (refused) return Promise.reject(new Error(`endpoint refused: ${refused}`));
    const policy = this.policy;
    const lookup: LookupFunction = (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 4);
        const list = addresses as unknown as LookupAddress[];
        for (const a of list) {
          const why = refuseAddress(a.address, policy);
          if (why) return callback(Object.assign(new Error(`endpoint refused after DNS: ${why}`), { code: 'EREFUSED_ADDRESS' }), '', 4);
        }
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        callback(null, list[0].address, list[0].family);
      });
    };
    const u = new URL(url);
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, lookup, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_RESPONSE_BYTES) chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      // `timeout` is idle time; the whole attempt is bounded too.
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new Error(err.message)));
      req.on('close', () => clearTimeout(timer));
      req.end(body);
    });
  }
}
