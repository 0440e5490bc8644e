/* idmap: writing a process's uid_map / gid_map / setgroups. Ranges are validated in TS
 * (id-map.ts) before they come here; the kernel checks them again. */
#ifndef NS_IDMAP_H
#define NS_IDMAP_H

#include <sys/types.h>

#include "ns_error.h"

/* Writes `content` ("0 33333 1\n1 100000 65534\n") to /proc/<pid>/<file> in ONE write, as the
 * kernel requires. file is "uid_map" or "gid_map". Returns 0 or -1 (syscall "write", pid). */
int ns_write_idmap(pid_t pid, const char *file, const char *content, struct ns_error *err);

/* Writes "allow" or "deny" to /proc/<pid>/setgroups (must precede gid_map). Returns 0 or -1. */
int ns_write_setgroups(pid_t pid, const char *value, struct ns_error *err);

#endif
