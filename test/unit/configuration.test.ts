import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { checkPath, packFiles, readArchive } from '../../functions/core/configuration.js';
import { ApiError } from '../../functions/core/errors.js';

/** A .tar.gz with hand-written headers, so hostile entries can be built. */
function tarGz(entries: { path: string; type?: 'File' | 'SymbolicLink' | 'Link' | 'Directory'; body?: string; linkpath?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({ path: e.path, type: e.type ?? 'File', size: e.type && e.type !== 'File' ? 0 : body.length, mode: 0o644, mtime: new Date(0), linkpath: e.linkpath });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block);
    if (!e.type || e.type === 'File') {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected a refusal');
}

describe('configuration paths', () => {
  it('accepts relative paths and refuses escaping or absolute ones, naming them', () => {
    expect(checkPath('./mod/x.tf')).toBe('mod/x.tf');
    expect(() => checkPath('../x.tf')).toThrow(/escapes.*\.\.\/x\.tf/);
    expect(() => checkPath('a/../../x.tf')).toThrow(/escapes/);
    expect(() => checkPath('/etc/passwd')).toThrow(/absolute/);
    expect(() => checkPath('C:/x.tf')).toThrow(/absolute/);
  });
});

describe('configuration archives', () => {
  it('round-trips JSON files through a stored .tar.gz', async () => {
    const archive = await packFiles({ 'main.tf': 'resource "terraform_data" "x" {}', 'mod/vars.tf': 'variable "v" {}' });
    const files = await readArchive(archive, 1024 * 1024);
    expect([...files.keys()].sort()).toEqual(['main.tf', 'mod/vars.tf']);
    expect(files.get('main.tf')!.toString()).toContain('terraform_data');
  });

  it.each([
    ['a parent path', [{ path: '../evil.tf', body: 'x' }], /escapes/],
    ['an absolute path', [{ path: '/abs.tf', body: 'x' }], /absolute|escapes/],
    ['a symbolic link', [{ path: 'link.tf', type: 'SymbolicLink' as const, linkpath: '/etc/passwd' }], /links are not allowed/],
    ['a hard link', [{ path: 'hard.tf', type: 'Link' as const, linkpath: 'main.tf' }], /links are not allowed/],
  ])('refuses an archive with %s with 400', async (_name, entries, message) => {
    const err = await refusal(readArchive(tarGz([{ path: 'main.tf', body: 'ok' }, ...entries]), 1024 * 1024));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it('refuses what is not an archive, and an archive that inflates past the limit', async () => {
    expect((await refusal(readArchive(Buffer.from('not a tarball at all'), 1024))).status).toBe(400);
    const bomb = tarGz([{ path: 'big.tf', body: 'x'.repeat(200_000) }]);
    expect((await refusal(readArchive(bomb, 10_000))).status).toBe(413);
  });
});
