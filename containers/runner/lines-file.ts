/**
 * A phase's lines for its `logs` artifact, kept in a file of the work dir rather than in memory (a
 * run printing a million lines kept ~0.3 GB of strings in the runner): gathered, then appended a
 * thousand at a time.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

const LINES_PER_WRITE = 1000;

export class LinesFile {
  private readonly pending: string[] = [];
  private readonly file: WriteStream;
  private failure: Error | null = null;

  constructor(private readonly path: string) {
    this.file = createWriteStream(path, { mode: 0o600 }).on('error', (err) => (this.failure ??= err));
  }

  add(line: string): void {
    this.pending.push(line);
    if (this.pending.length >= LINES_PER_WRITE) this.write();
  }

  /** Every line added, one per `\n`-ended line; the file is closed. */
  async close(): Promise<Buffer> {
    this.write();
    await new Promise<void>((resolve) => this.file.end(() => resolve()));
    if (this.failure) throw this.failure;
    return readFile(this.path);
  }

  private write(): void {
    if (this.pending.length === 0) return;
    this.file.write(this.pending.map((l) => `${l}\n`).join(''));
    this.pending.length = 0;
  }
}
