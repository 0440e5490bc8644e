import * as http from 'node:http';
import * as https from 'node:https';

/**
 * One keep-alive agent per download, with a socket per parallel request: pieces reuse warm
 * connections instead of paying a handshake each, and destroying the agent closes them all.
 */
export function createConnectionPool(url: URL, connections: number): http.Agent {
  const options: http.AgentOptions = { keepAlive: true, maxSockets: connections };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}
