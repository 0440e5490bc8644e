/* masks: covering parts of a detached tree (a fresh proc or sysfs) before it reaches a
 * workspace, like a container runtime masks them. The reasons for each path live with the list
 * (apps/ws-daemon/src/mounts/masked-filesystems.ts); this does the mounts in one call: a
 * workspace's start waits for its /proc, and from JS they were ~60 calls. */
#ifndef NS_MASKS_H
#define NS_MASKS_H

#include "ns_error.h"

/* Twin: MaskKind in libs/native-ns/src/lib/mounts.ts. */
enum ns_mask_kind {
  NS_MASK_FILE = 1,     /* /dev/null over it */
  NS_MASK_DIR = 2,      /* an empty read-only tmpfs over it */
  NS_MASK_READONLY = 3, /* a read-only (recursive) bind of itself */
};

/* Applies the masks on the detached tree `tree`, each path resolved beneath it without
 * symlinks; a path that does not exist is skipped (applied[i] = 0, else 1). Returns 0, or -1
 * with err naming the path that failed (the masks before it stay applied). */
int ns_apply_masks(int tree, const char *const *paths, const int *kinds, int n, int *applied, struct ns_error *err);

#endif
