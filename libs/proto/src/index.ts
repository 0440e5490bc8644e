// The gRPC contracts of wsrun: generated messages and services, and the transport helpers that
// every server and client (apps and tests) share.
export * as initializer from './generated/wsrun/content/v1/initializer';
export * as inWorkspace from './generated/wsrun/daemon/v1/in_workspace';
// by name too: a bundle that takes only this (ring0's) leaves out the grpc-js client constructor
// that a namespace import would keep
export { InWorkspaceServiceService } from './generated/wsrun/daemon/v1/in_workspace';
export * as workspaceContent from './generated/wsrun/daemon/v1/workspace_content';
export * as health from './generated/grpc/health/v1/health';
export { HealthStatusBoard, ServingStatus } from './lib/health.service';
export * from './lib/grpc-transport';
export * from './lib/unary-client';
export { CallMetadata, GrpcStatus, type UnaryCallError } from './lib/call-error';
export type { H2Connector, H2Transport } from './lib/h2/transport';
