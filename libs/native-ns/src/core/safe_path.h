/* safe_path: opening paths inside a root so that no symlink or ".." can lead outside it. */
#ifndef NS_SAFE_PATH_H
#define NS_SAFE_PATH_H

#include <stdint.h>
#include <sys/types.h>

#include "ns_error.h"

/* Resolve modes (openat2 RESOLVE_* combinations) used by wsrun. */
#define NS_RESOLVE_IN_ROOT 1 /* "/" and ".." stop at the root; symlinks resolved inside it */
#define NS_RESOLVE_BENEATH 2 /* any escape (absolute symlink, "..") fails with EXDEV */
#define NS_RESOLVE_BENEATH_NO_SYMLINKS 3 /* as BENEATH, and any symlink fails with ELOOP */

/* Opens `path` relative to dirfd with the given resolve mode; magic links (/proc/<pid>/fd/...)
 * are never followed. Retries EAGAIN (a racing rename). Returns an fd or -1 with err set
 * (syscall "openat2", path). */
int ns_openat2(int dirfd, const char *path, int flags, mode_t mode, int resolve_mode, struct ns_error *err);

/* Opens `path` inside the tree rooted at root_fd as if root_fd were "/". flags as for open(2)
 * (O_CLOEXEC is always added). Returns an fd or -1. */
int ns_open_in_root(int root_fd, const char *path, int flags, struct ns_error *err);

/* Creates every missing directory of `path` inside root_fd (mode for new ones) and returns an
 * O_PATH fd of the last one, or -1. Existing components may be symlinks; they resolve inside
 * the root. */
int ns_mkdir_p_in_root(int root_fd, const char *path, mode_t mode, struct ns_error *err);

/* Creates an empty regular file at `path` inside root_fd when nothing exists there (parents
 * created as with ns_mkdir_p_in_root, mode 0755). Returns 0 or -1. */
int ns_touch_in_root(int root_fd, const char *path, mode_t mode, struct ns_error *err);

/* Opens a directory by plain path (O_PATH|O_DIRECTORY|O_CLOEXEC) to use as a root; -1 on error. */
int ns_open_root(const char *path, struct ns_error *err);

/* Writes the "/proc/self/fd/N" path of fd into buf (size >= 32). */
void ns_fd_path(int fd, char *buf, size_t size);

#endif
