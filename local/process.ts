/**
 * The embedded default as its own process, as `npm start` runs it (`node --import tsx
 * local/main.ts`), for tests and benchmarks that kill it or measure it from outside.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface EmbeddedProcess {
  child: ChildProcess;
  url: string;
  /** resolves when the process has exited */
  exited: Promise<void>;
  /** everything it printed so far (stdout and stderr) */
  output(): string;
  /** SIGTERM, then resolves on exit */
  stop(): Promise<void>;
}

/** A free loopback port (the OS picks it; the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts it on a free port and resolves once it logs that it is listening. */
export async function spawnEmbedded(opts: { dataDir: string; adminToken: string; env?: NodeJS.ProcessEnv; detached?: boolean }): Promise<EmbeddedProcess> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...opts.env, DATA_DIR: opts.dataDir, PORT: String(port), ADMIN_TOKEN: opts.adminToken };
  delete env.NODE_OPTIONS; // a test runner's flags (jest's --experimental-vm-modules) are not the product's
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the embedded default did not log "listening" within 60 s; output:\n${out}`)), 60_000);
    const onData = () => {
      if (!/Runway is listening on /.test(out)) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the embedded default exited (${code ?? signal}) before listening; output:\n${out}`));
    });
  });
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    exited,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
