/**
 * Jest globalSetup: the e2e suites run the real terraform. Without it they must fail loudly,
 * never skip, so check once before any test starts.
 */
import { spawnSync } from 'node:child_process';

export default function globalSetup(): void {
  const bin = process.env.TERRAFORM_BIN || 'terraform';
  const r = spawnSync(bin, ['version'], { encoding: 'utf8', timeout: 30_000 });
  const version = /Terraform v(\d+)\.(\d+)\.\d+/.exec(r.stdout ?? '');
  if (r.error || r.status !== 0 || !version) {
    const why = r.error ? r.error.message : `exit ${r.status}: ${(r.stderr || r.stdout || '').trim().slice(0, 300)}`;
    throw new Error(`terraform 1.11 is required on PATH (or set TERRAFORM_BIN); \`${bin} version\` failed: ${why}`);
  }
  const [major, minor] = [Number(version[1]), Number(version[2])];
  if (major !== 1 || minor < 11) {
    throw new Error(`terraform 1.11 is required on PATH (or set TERRAFORM_BIN); \`${bin} version\` reports ${version[0]}`);
  }
}
