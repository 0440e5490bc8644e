/** An inclusive byte range, as HTTP writes it. */
export interface ByteRange {
  start: number;
  end: number;
}

export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end}`;
}

export type ContentRange = { start: number; end: number; totalBytes: number } | { unsatisfiedTotalBytes: number };

/** Parses `bytes a-b/total` (206) or `bytes *\/total` (416); undefined when absent, malformed or of unknown total. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const satisfied = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value.trim());
  if (satisfied) {
    const [start, end, totalBytes] = satisfied.slice(1).map(Number);
    return start <= end && end < totalBytes ? { start, end, totalBytes } : undefined;
  }
  const unsatisfied = /^bytes \*\/(\d+)$/.exec(value.trim());
  return unsatisfied ? { unsatisfiedTotalBytes: Number(unsatisfied[1]) } : undefined;
}

/** Content-Length as a number; undefined when absent or malformed. */
export function parseContentLength(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}
