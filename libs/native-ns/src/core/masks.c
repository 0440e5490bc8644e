#include "masks.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "mounts.h"
#include "safe_path.h"
#include "sys.h"

/* The cover of one mask, a detached tree; -1 with err. */
static int cover_for(int tree, const char *path, int kind, struct ns_error *err) {
  switch (kind) {
    case NS_MASK_FILE:
      return ns_clone_tree(-1, "/dev/null", 0, err);
    case NS_MASK_DIR:
      return ns_new_fs("tmpfs", "size=4k,nr_inodes=4,mode=555", NULL, NULL, 0,
                       NS_MOUNT_ATTR_RDONLY | NS_MOUNT_ATTR_NOSUID | NS_MOUNT_ATTR_NODEV | NS_MOUNT_ATTR_NOEXEC, err);
    case NS_MASK_READONLY: {
      int cover = ns_clone_tree(tree, path, 1, err);
      if (cover < 0) return -1;
      if (ns_setattr_fd(cover, NS_MOUNT_ATTR_RDONLY, 0, NS_PROP_NONE, -1, 1, err) < 0) {
        close(cover);
        return -1;
      }
      return cover;
    }
    default:
      return ns_fail(err, EINVAL, "mask", path);
  }
}

int ns_apply_masks(int tree, const char *const *paths, const int *kinds, int n, int *applied, struct ns_error *err) {
  for (int i = 0; i < n; i++) {
    applied[i] = 0;
    int probe = ns_openat2(tree, paths[i], O_PATH, 0, NS_RESOLVE_BENEATH_NO_SYMLINKS, err);
    if (probe < 0) {
      if (err->errnum == ENOENT) {
        ns_error_clear(err);
        continue; /* not on this kernel */
      }
      return -1;
    }
    close(probe);
    int cover = cover_for(tree, paths[i], kinds[i], err);
    if (cover < 0) return ns_context(err, "masking %s", paths[i]);
    int rc = ns_attach_tree(cover, tree, paths[i], 0, err);
    close(cover);
    if (rc < 0) return ns_context(err, "masking %s", paths[i]);
    applied[i] = 1;
  }
  return 0;
}
