/** Metrics kept in memory (the embedded default): served by `GET /api/v1/system/metrics`. */
import type { Metrics } from '../../core/ports.js';

interface Timing {
  count: number;
  sum: number;
  max: number;
  recent: number[];
}

const key = (name: string, dims?: Record<string, string>) =>
  dims && Object.keys(dims).length ? `${name}{${Object.entries(dims).sort().map(([k, v]) => `${k}=${v}`).join(',')}}` : name;

export class MemoryMetrics implements Metrics {
  private readonly counters = new Map<string, number>();
  private readonly timings = new Map<string, Timing>();

  count(name: string, value = 1, dimensions?: Record<string, string>): void {
    const k = key(name, dimensions);
    this.counters.set(k, (this.counters.get(k) ?? 0) + value);
  }

  timing(name: string, ms: number, dimensions?: Record<string, string>): void {
    for (const k of new Set([name, key(name, dimensions)])) {
      const t = this.timings.get(k) ?? { count: 0, sum: 0, max: 0, recent: [] };
      t.count++;
      t.sum += ms;
      t.max = Math.max(t.max, ms);
      t.recent.push(ms);
      if (t.recent.length > 1000) t.recent.shift();
      this.timings.set(k, t);
    }
  }

  snapshot() {
    const pct = (xs: number[], p: number) => {
      if (!xs.length) return null;
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
    };
    return {
      counters: Object.fromEntries(this.counters),
      timings: Object.fromEntries(
        [...this.timings].map(([k, t]) => [k, { count: t.count, avg_ms: Math.round((t.sum / t.count) * 10) / 10, max_ms: t.max, p50_ms: pct(t.recent, 50), p99_ms: pct(t.recent, 99) }]),
      ),
    };
  }
}
