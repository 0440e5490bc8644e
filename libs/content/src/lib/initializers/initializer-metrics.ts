import type { RefusedEntry } from '@wsrun/archive';
import type { initializer } from '@wsrun/proto';

/**
 * What one initializer did: the proto's InitializerMetric (type, duration, bytes) plus details
 * that stay in the ready file and the worker's logs (the gRPC answer carries only the proto).
 */
export interface InitializerMetricDetail extends initializer.InitializerMetric {
  /** archive members created (snapshot, backup, prebuild) */
  entries?: number;
  /** archive members the extractor refused, with the reason: never silently dropped */
  refused?: RefusedEntry[];
  /** bytes transferred, when they differ from the bytes written (archives) */
  downloadedBytes?: number;
  /** git: attempts made (more than 1 after transient failures) */
  attempts?: number;
  /** files written (file download) */
  files?: number;
  /** why this step failed when the run went on without it (a prebuild that fell back to git) */
  failed?: string;
}

/** The result of a whole run: what filled the workspace, and one metric per initializer that ran. */
export interface InitializerOutcome {
  /** "backup", "snapshot", "prebuild", "git", "download", "empty", or children joined with "+" for a composite */
  source: string;
  metrics: InitializerMetricDetail[];
}

/** The proto form of the metrics (what WaitForInit answers). */
export function toProtoMetrics(metrics: readonly InitializerMetricDetail[]): initializer.InitializerMetrics {
  return { metric: metrics.map((m) => ({ type: m.type, durationMs: Math.round(m.durationMs), sizeBytes: Math.round(m.sizeBytes) })) };
}
