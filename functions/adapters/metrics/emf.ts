/** Metrics on AWS: CloudWatch embedded metric format through Powertools, flushed per call. */
import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '../../core/ports.js';

export class EmfMetrics implements Metrics {
  private readonly emf = new PowertoolsMetrics({ namespace: 'Runway', serviceName: 'runway' });

  count(name: string, value = 1, dimensions?: Record<string, string>): void {
    this.emit(name, MetricUnit.Count, value, dimensions);
  }

  timing(name: string, ms: number, dimensions?: Record<string, string>): void {
    this.emit(name, MetricUnit.Milliseconds, ms, dimensions);
  }

  private emit(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number, dimensions?: Record<string, string>): void {
    const m = this.emf.singleMetric();
    for (const [k, v] of Object.entries(dimensions ?? {})) m.addDimension(k, v);
    m.addMetric(name, unit, value);
  }
}
