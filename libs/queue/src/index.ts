// The node's content queue: names, job contracts, Redis connection, the private redis-server.
export * from './lib/content-jobs';
export * from './lib/redis-connection';
export * from './lib/private-redis';
