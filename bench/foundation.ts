/**
 * Orchestration overhead (foundation issue): a plan-only run through the API of the embedded
 * default versus bare `terraform init && terraform plan` of the same configuration.
 * Runway's time is the run's own created_at → completed_at (server clock, no client polling in it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded } from '../local/embedded.js';
import { median, ms } from './stats.js';

const CONFIG = `
resource "terraform_data" "bench" {
  input = "runway"
}
output "value" { value = terraform_data.bench.output }
`;

function bareTerraform(bin: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'runway-bench-bare-'));
  try {
    writeFileSync(join(dir, 'main.tf'), CONFIG);
    const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
    const t0 = performance.now();
    execFileSync(bin, ['init', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'ignore' });
    execFileSync(bin, ['plan', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'ignore' });
    return performance.now() - t0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchFoundation(runs = 7): Promise<void> {
  const bin = process.env.TERRAFORM_BIN || 'terraform';
  const dataDir = mkdtempSync(join(tmpdir(), 'runway-bench-'));
  const app = await startEmbedded({ port: 0, dataDir, adminToken: 'bench-admin' });
  const h = { authorization: 'Bearer bench-admin', 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${app.url}/api/v1${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await r.json()) as Record<string, unknown>;
  };
  try {
    await call('POST', '/workspaces', { name: 'bench', execution_mode: 'plan_only' });
    await call('POST', '/workspaces/bench/configuration-versions', { files: { 'main.tf': CONFIG } });
    const bare: number[] = [];
    const runway: number[] = [];
    bareTerraform(bin); // warm the file cache
    for (let i = 0; i < runs; i++) {
      bare.push(bareTerraform(bin));
      const created = await call('POST', '/workspaces/bench/tasks', { task_type: 'plan' });
      let task: Record<string, unknown>;
      for (;;) {
        task = await call('GET', `/tasks/${created.task_id}`);
        if (['success', 'failed', 'errored'].includes(task.status as string)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      if (task.status !== 'success') throw new Error(`bench run ended ${task.status}: ${task.error_message}`);
      runway.push(Date.parse(task.completed_at as string) - Date.parse(task.created_at as string));
    }
    const b = median(bare);
    const r = median(runway);
    console.log(`\n## Orchestration overhead: plan-only run via the API vs bare terraform init && plan (median of ${runs})`);
    console.log(`bare terraform:  ${ms(b)}`);
    console.log(`Runway run:      ${ms(r)}  (created_at → completed_at)`);
    console.log(`overhead:        ${ms(r - b)}  ratio ${(r / b).toFixed(2)}x  (goal: ≤ 300 ms over bare)`);
  } finally {
    await app.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFoundation();
