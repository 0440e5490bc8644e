/**
 * What a failed unary call of UnaryClient throws: shaped like grpc-js's ServiceError (code,
 * details, metadata with get()), without grpc-js itself, which ring0's bundle does not carry.
 */

/** gRPC status codes (grpc/status.proto). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = Object.fromEntries(Object.entries(GrpcStatus).map(([name, code]) => [code, name])) as Record<number, string>;

/** A reply's custom metadata: values by lower-case key, `-bin` keys as Buffers (like grpc-js). */
export class CallMetadata {
  private readonly values = new Map<string, (string | Buffer)[]>();

  add(key: string, value: string | Buffer): void {
    const k = key.toLowerCase();
    const list = this.values.get(k);
    if (list) list.push(value);
    else this.values.set(k, [value]);
  }

  get(key: string): (string | Buffer)[] {
    return [...(this.values.get(key.toLowerCase()) ?? [])];
  }
}

export interface UnaryCallError extends Error {
  code: number;
  details: string;
  metadata: CallMetadata;
}

export function callError(code: number, details: string, metadata = new CallMetadata()): UnaryCallError {
  return Object.assign(new Error(`${code} ${NAMES[code] ?? 'UNKNOWN'}: ${details}`), { code, details, metadata });
}
