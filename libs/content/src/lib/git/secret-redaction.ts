/**
 * Text that leaves a git run (errors, logs, the child's failure message) passes through here:
 * every known secret is blanked, and so is the user-info part of any URL (a remote given as
 * https://user:token@host/...) and the query of a URL (signed URLs carry their signature there).
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('[secret]');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]+@/gi, '$1[secret]@').replace(/(https?:\/\/[^\s'"?]+)\?[^\s'"]*/gi, '$1?[redacted]');
}
