/**
 * Configuration versions: a workspace's Terraform files, stored as one .tar.gz blob.
 * Uploads come as a .tar.gz or as JSON {files}; both are checked the same way: no path may leave
 * the root, no links, nothing beyond the size limits.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { Parser, create as tarCreate, extract as tarExtract } from 'tar';
import { badRequest, tooLarge } from './errors.js';

/** Uncompressed content is capped too (a small archive may inflate hugely). */
const MAX_UNCOMPRESSED_FACTOR = 10;

/** Returns the normalized relative path, or throws 400 naming the offending path. */
export function checkPath(raw: string): string {
  const p = raw.replace(/^\.\//, '');
  if (p === '' || p.includes('\0')) throw badRequest(`invalid path in configuration: ${JSON.stringify(raw)}`, 'invalid_path');
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.includes('\\')) throw badRequest(`absolute path in configuration: ${raw}`, 'invalid_path');
  const norm = posix.normalize(p);
  if (norm === '..' || norm.startsWith('../') || p.split('/').includes('..')) throw badRequest(`path escapes the configuration root: ${raw}`, 'invalid_path');
  return norm.replace(/\/$/, '');
}

/** Lists a .tar.gz (or .tar), refusing links, special files and escaping paths. */
export async function readArchive(archive: Buffer, maxBytes: number): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let total = 0;
  let failure: Error | null = null;
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry(entry) {
        try {
          if (failure) throw failure;
          if (entry.type === 'Directory' || entry.type === 'GNUDumpDir') {
            checkPath(entry.path);
            entry.resume();
            return;
          }
          if (entry.type === 'SymbolicLink' || entry.type === 'Link') throw badRequest(`links are not allowed in a configuration: ${entry.path}`, 'invalid_archive');
          if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') throw badRequest(`unsupported entry type ${entry.type}: ${entry.path}`, 'invalid_archive');
          const path = checkPath(entry.path);
          const parts: Buffer[] = [];
          entry.on('data', (c: Buffer) => {
            total += c.length;
            if (total > maxBytes * MAX_UNCOMPRESSED_FACTOR) failure ??= tooLarge(`configuration expands beyond ${maxBytes * MAX_UNCOMPRESSED_FACTOR} bytes`);
            else parts.push(c);
          });
          entry.on('end', () => files.set(path, Buffer.concat(parts)));
        } catch (err) {
          failure ??= err as Error;
          entry.resume();
        }
      },
    });
    parser.on('error', (err: Error) => reject(failure ?? badRequest(`not a valid .tar.gz archive: ${err.message}`, 'invalid_archive')));
    parser.on('end', () => resolve());
    parser.end(archive);
  });
  if (failure) throw failure;
  if (files.size === 0) throw badRequest('the archive holds no files', 'invalid_archive');
  return files;
}

/** Packs files into a .tar.gz (used for JSON uploads, so every version is stored the same way). */
export async function packFiles(files: Record<string, string | Buffer>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'runway-cv-'));
  try {
    const names: string[] = [];
    for (const [raw, content] of Object.entries(files)) {
      const path = checkPath(raw);
      await mkdir(join(dir, dirname(path)), { recursive: true });
      await writeFile(join(dir, path), content);
      names.push(path);
    }
    const chunks: Buffer[] = [];
    const stream = tarCreate({ gzip: true, cwd: dir, portable: true }, names.sort());
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Extracts a stored configuration into `dir` (runner side). */
export async function extractArchive(archive: Buffer, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const x = tarExtract({ cwd: dir, strict: true });
    x.on('error', reject);
    x.on('close', () => resolve());
    x.end(archive);
  });
}
