import { status as GrpcStatus, type ServerWritableStream, type Server } from '@grpc/grpc-js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthServer,
} from '../generated/grpc/health/v1/health';

export { ServingStatus };

/**
 * The standard grpc.health.v1 service. Statuses are per service name; "" is the whole server.
 * A server reports SERVING only once its owner says it is ready (setStatus).
 */
export class HealthStatusBoard {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>>();

  constructor(initial: Record<string, ServingStatus> = { '': ServingStatus.NOT_SERVING }) {
    for (const [name, value] of Object.entries(initial)) this.statuses.set(name, value);
  }

  setStatus(service: string, value: ServingStatus): void {
    this.statuses.set(service, value);
    for (const call of this.watchers.get(service) ?? []) call.write({ status: value });
  }

  /** Every service (and "") goes NOT_SERVING, and open Watch streams end. */
  shutdown(): void {
    for (const name of this.statuses.keys()) this.setStatus(name, ServingStatus.NOT_SERVING);
    for (const set of this.watchers.values()) for (const call of set) call.end();
    this.watchers.clear();
  }

  addToServer(server: Server): void {
    server.addService(HealthService, this.implementation());
  }

  private implementation(): HealthServer {
    return {
      check: (call, callback) => {
        const value = this.statuses.get(call.request.service);
        if (value === undefined) {
          callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service "${call.request.service}"` });
          return;
        }
        callback(null, { status: value });
      },
      list: (_call, callback) => {
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const [name, value] of this.statuses) statuses[name] = { status: value };
        callback(null, { statuses });
      },
      watch: (call) => {
        const name = call.request.service;
        const set = this.watchers.get(name) ?? new Set();
        this.watchers.set(name, set);
        set.add(call);
        call.write({ status: this.statuses.get(name) ?? ServingStatus.SERVICE_UNKNOWN });
        call.on('cancelled', () => set.delete(call));
        call.on('close', () => set.delete(call));
      },
    };
  }
}
