/**
 * Remote content an initializer refers to, resolved by the caller (ws-daemon) into signed URLs
 * before the run: the sandboxed child never holds storage credentials, only these URLs.
 */
export interface RemoteObject {
  /** a signed (time-limited) http(s) URL of the object */
  url: string;
  /** the object's size, when known: checked while downloading */
  sizeBytes?: number;
  /** hex sha256 of the object, when known: checked before the stream ends */
  sha256?: string;
}

export interface RemoteContent {
  /** the workspace's latest backup, when one exists: it wins over every initializer */
  backup?: RemoteObject;
  /** snapshots and prebuilds, by their "object@bucket" name as given in the initializer */
  objects?: Record<string, RemoteObject>;
}
