/**
 * Terraform first. The runner starts terraform, and reads its output, from this worker thread,
 * which keeps the runner's starting CPU priority (terraform inherits it); every other thread of the
 * runner (the main one, which numbers, stores and posts the lines, and V8's and libuv's helpers)
 * steps back (`SHIPPING_NICENESS` and SCHED_IDLE; Linux keeps both per thread). When the CPU is
 * short, shipping logs waits for terraform, never the reverse.
 *
 * Terraform writes its stdout and stderr to files, not pipes: a write never waits for a reader,
 * and none wakes one. This thread reads them as they grow: woken by the first write after a quiet
 * spell (inotify), then every `READ_INTERVAL_MS` while output keeps coming, so a busy terraform
 * costs a few hundred reads a second rather than one per line. Each read is stamped with its time,
 * which becomes the lines' timestamp however late the main thread takes them.
 *
 * The same file is the worker's entry point (bundled as `launcher.mjs` next to the runner's entry)
 * and, for the main thread, `Launcher`, which talks to it.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

/** How far the other threads step back: the lowest, ~1/70 of a CPU that terraform also wants. */
export const SHIPPING_NICENESS = 19;
/** While output keeps coming, the files are read this often (ms): a line printed in a burst waits at most this long. */
const READ_INTERVAL_MS = 5;

export type OutputStream = 'stdout' | 'stderr';

type Request =
  | { type: 'start'; id: number; bin: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv; outputDir: string }
  | { type: 'signal'; id: number; signal: NodeJS.Signals }
  /** the main thread took the last output: the next may go */
  | { type: 'taken' };

/** For one process, `output` events (bytes as read, and when), then one `exit` or `error`. */
type Event =
  | { type: 'ready'; tid: number | null }
  | { type: 'output'; id: number; stream: OutputStream; bytes: Uint8Array; at: number }
  | { type: 'exit'; id: number; code: number }
  | { type: 'error'; id: number; message: string };

export interface TerraformProcess {
  /** the exit code (128 for a signal), once all its output was delivered */
  readonly exited: Promise<number>;
  signal(signal: NodeJS.Signals): void;
}

/** `at`: when the text was read (ms since the epoch). */
export type OutputListener = (stream: OutputStream, text: string, at: number) => void;

/** The main thread's side: starts processes in the launcher thread; their output arrives as text. */
export class Launcher {
  private readonly worker: Worker;
  private nextId = 1;
  /** set when the thread could not start or died: every start fails with it */
  private failed: Error | null = null;
  private readonly running = new Map<number, { onOutput: OutputListener; decoders: Record<OutputStream, StringDecoder>; resolve: (code: number) => void; reject: (err: Error) => void }>();

  /** Starts the thread; once it runs, every other thread of the process steps back (`stepBack`). */
  constructor(entry: URL = new URL('./launcher.mjs', import.meta.url)) {
    this.worker = new Worker(entry);
    this.worker.unref();
    this.worker.on('message', (e: Event) => this.received(e));
    this.worker.on('error', (err) => {
      this.failed = err;
      for (const p of this.running.values()) p.reject(err);
      this.running.clear();
    });
  }

  /** Runs `bin` in `cwd`; its output goes through files in `outputDir` (removed when it exits). */
  start(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, outputDir: string, onOutput: OutputListener): TerraformProcess {
    if (this.failed) return { exited: Promise.reject(this.failed), signal: () => undefined };
    const id = this.nextId++;
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const exited = new Promise<number>((resolve, reject) => this.running.set(id, { onOutput, decoders, resolve, reject }));
    this.post({ type: 'start', id, bin, args, cwd, env, outputDir });
    return { exited, signal: (signal) => this.post({ type: 'signal', id, signal }) };
  }

  private received(e: Event): void {
    if (e.type === 'ready') return stepBack(e.tid);
    const p = this.running.get(e.id);
    if (!p) return;
    if (e.type === 'output') {
      // Decoded here, off terraform's priority; a character split between reads waits for its rest.
      p.onOutput(e.stream, p.decoders[e.stream].write(Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength)), e.at);
      return this.post({ type: 'taken' });
    }
    this.running.delete(e.id);
    if (e.type === 'error') return p.reject(new Error(e.message));
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = p.decoders[stream].end();
      if (rest) p.onOutput(stream, rest, Date.now());
    }
    p.resolve(e.code);
  }

  private post(r: Request): void {
    this.worker.postMessage(r);
  }
}

/**
 * Lowers every thread of this process but the launcher's: the main thread, and the helpers that
 * work for it (V8's garbage collector, libuv's pool), which would otherwise compete at terraform's
 * level. Threads the main thread starts later (libuv's pool grows on first use) inherit it.
 *
 * Then, where util-linux's `chrt` is at hand (Node has no call for it), to SCHED_IDLE (sched(7);
 * no privilege needed): a thread at niceness 19 on the other core still delays terraform's next
 * thread there until the scheduler preempts it, while Linux places a woken thread on a core that
 * runs only SCHED_IDLE threads as on an idle one. Measured here with a load on the other core
 * during a 100 000-line apply: terraform slowed 13–16 % at niceness 19, 6–8 % at SCHED_IDLE.
 */
function stepBack(launcherTid: number | null): void {
  let threads = [0]; // the calling thread, where threads cannot be listed
  try {
    if (launcherTid !== null) threads = readdirSync('/proc/self/task').map(Number).filter((tid) => tid !== launcherTid);
  } catch {
    /* not Linux */
  }
  for (const tid of threads) {
    try {
      setPriority(tid, SHIPPING_NICENESS);
    } catch {
      /* not allowed: everything keeps one priority */
    }
  }
  if (launcherTid === null) return;
  // Without chrt (or where it is refused) the niceness alone stays.
  for (const tid of threads) execFile('chrt', ['--idle', '--pid', '0', String(tid)], () => undefined);
}

// ---------- the launcher thread ----------

/** This thread's id (Linux), so the main thread can leave it at its priority. */
function ownThreadId(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

type Pending = { type: 'output'; id: number; stream: OutputStream; chunks: Buffer[]; at: number } | Extract<Event, { type: 'exit' | 'error' }>;

function serve(port: NonNullable<typeof parentPort>): void {
  const signals = new Map<number, (signal: NodeJS.Signals) => void>();
  // One output message in flight: what is read meanwhile joins the next one, so a busy main
  // thread gets a few large messages rather than one per read.
  const pending: Pending[] = [];
  let inFlight = false;
  const flush = () => {
    const e = pending.shift();
    inFlight = e?.type === 'output';
    if (!e) return;
    if (e.type === 'output') {
      // A fresh buffer, handed over rather than copied.
      const bytes = new Uint8Array(e.chunks.reduce((n, c) => n + c.length, 0));
      let offset = 0;
      for (const c of e.chunks) {
        bytes.set(c, offset);
        offset += c.length;
      }
      port.postMessage({ type: 'output', id: e.id, stream: e.stream, bytes, at: e.at } satisfies Event, [bytes.buffer]);
    } else {
      port.postMessage(e satisfies Event);
      flush(); // exits and errors do not wait for a `taken`
    }
  };
  const output = (id: number, stream: OutputStream, chunk: Buffer) => {
    const last = pending.at(-1);
    if (last?.type === 'output' && last.id === id && last.stream === stream) last.chunks.push(chunk);
    else pending.push({ type: 'output', id, stream, chunks: [chunk], at: Date.now() });
    if (!inFlight) flush();
  };
  const finish = (e: Extract<Event, { type: 'exit' | 'error' }>) => {
    signals.delete(e.id);
    pending.push(e);
    if (!inFlight) flush();
  };

  port.postMessage({ type: 'ready', tid: ownThreadId() } satisfies Event);
  port.on('message', (r: Request) => {
    if (r.type === 'taken') flush();
    else if (r.type === 'signal') signals.get(r.id)?.(r.signal);
    else run(r);
  });

  function run(r: Extract<Request, { type: 'start' }>): void {
    const tails = (['stdout', 'stderr'] as const).map((stream) => tailFile(join(r.outputDir, `.terraform-${r.id}.${stream}`), (chunk) => output(r.id, stream, chunk)));
    const child = spawn(r.bin, r.args, { cwd: r.cwd, env: r.env, stdio: ['ignore', tails[0].writeFd, tails[1].writeFd] });
    for (const t of tails) t.started();
    signals.set(r.id, (signal) => child.kill(signal));
    child.on('error', (err) => {
      for (const t of tails) t.close();
      finish({ type: 'error', id: r.id, message: err.message });
    });
    child.on('exit', (code, signal) => {
      // Whatever it wrote is in the files now.
      for (const t of tails) t.close();
      finish({ type: 'exit', id: r.id, code: code ?? (signal ? 128 : 1) });
    });
  }
}

/** A file a child writes to (`writeFd`, closed here once the child has it) and reads of it as it grows. */
function tailFile(path: string, onChunk: (chunk: Buffer) => void) {
  const writeFd = openSync(path, 'w', 0o600);
  const readFd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(1 << 20);
  let position = 0;
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  let closed = false;
  const readAll = () => {
    let grew = false;
    for (let n = readSync(readFd, buffer, 0, buffer.length, position); n > 0; n = readSync(readFd, buffer, 0, buffer.length, position)) {
      onChunk(Buffer.from(buffer.subarray(0, n)));
      position += n;
      grew = true;
    }
    return grew;
  };
  const unwatch = () => {
    watcher?.close();
    watcher = null;
  };
  /**
   * Reads what was added. While output keeps coming it reads again shortly, unwatched (inotify
   * would wake this thread on every write); once a read finds nothing new it waits for inotify,
   * reading once more after the watch began, for a write that came just before it.
   */
  const drain = () => {
    timer = null;
    if (closed) return;
    let grew = readAll();
    if (!grew && !watcher) {
      try {
        watcher = watch(path, () => {
          if (!timer) drain();
        });
      } catch {
        // No inotify (or its watches used up): keep reading at the interval.
        timer = setTimeout(drain, READ_INTERVAL_MS);
        return;
      }
      grew = readAll();
    }
    if (!grew) return;
    unwatch();
    timer = setTimeout(drain, READ_INTERVAL_MS);
  };
  return {
    writeFd,
    started() {
      closeSync(writeFd);
      drain();
    },
    /** After the child exited: the rest, then the file goes. */
    close() {
      if (closed) return;
      closed = true;
      unwatch();
      if (timer) clearTimeout(timer);
      readAll();
      closeSync(readFd);
      rmSync(path, { force: true });
    },
  };
}

if (!isMainThread && parentPort) serve(parentPort);
