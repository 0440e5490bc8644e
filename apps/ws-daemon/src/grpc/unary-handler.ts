import type { handleUnaryCall, sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '@wsrun/common';
import { toServiceError } from './grpc-status';

/**
 * Turns a controller (async methods taking the request and the call) into grpc-js handlers:
 * results go back as responses, thrown errors through the one status mapping (grpc-status.ts),
 * and every refusal is logged once with the method's name.
 */
export type UnaryMethods<S> = {
  // the generated interfaces extend grpc-js's index signature: keep only the named methods
  [K in keyof S as string extends K ? never : K]: S[K] extends handleUnaryCall<infer Req, infer Res> ? (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> : never;
};

export function unaryHandlers<S extends UntypedServiceImplementation>(service: string, methods: UnaryMethods<S>, log: Logger): S {
  const handlers: Record<string, handleUnaryCall<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(methods) as [string, (req: unknown, call: ServerUnaryCall<unknown, unknown>) => Promise<unknown>][]) {
    handlers[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const started = process.hrtime.bigint();
      method(call.request, call).then(
        (response) => {
          log.debug({ method: `${service}/${name}`, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'call served');
          callback(null, response);
        },
        (err: unknown) => {
          const mapped = toServiceError(err);
          log.warn({ method: `${service}/${name}`, peer: call.getPeer(), code: mapped.code, error: mapped.details }, 'call refused');
          callback(mapped);
        },
      );
    };
  }
  return handlers as unknown as S;
}
