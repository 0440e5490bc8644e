/* fsat: file operations relative to a directory fd, for code that must never follow a path
 * string outside a root (archive extraction, backups). `name` is one path component unless a
 * function says otherwise; lookups that must stay inside a root go through ns_openat2 first. */
#ifndef NS_FSAT_H
#define NS_FSAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ns_error.h"

int ns_mkdirat(int dirfd, const char *name, mode_t mode, struct ns_error *err);
int ns_symlinkat(const char *target, int dirfd, const char *name, struct ns_error *err);
/* hard link oldname (in olddir, never following a final symlink) as newname in newdir */
int ns_linkat(int olddirfd, const char *oldname, int newdirfd, const char *newname, struct ns_error *err);
int ns_mknodat(int dirfd, const char *name, mode_t mode, dev_t dev, struct ns_error *err);
int ns_unlinkat(int dirfd, const char *name, int is_dir, struct ns_error *err);
/* renameat2; noreplace = RENAME_NOREPLACE */
int ns_renameat(int olddirfd, const char *oldname, int newdirfd, const char *newname, int noreplace, struct ns_error *err);
/* fchownat with AT_SYMLINK_NOFOLLOW ("" name = the fd itself, AT_EMPTY_PATH) */
int ns_lchownat(int dirfd, const char *name, uid_t uid, gid_t gid, struct ns_error *err);
/* utimensat with AT_SYMLINK_NOFOLLOW ("" name = the fd itself); times in ns since the epoch */
int ns_lutimensat(int dirfd, const char *name, int64_t atime_ns, int64_t mtime_ns, struct ns_error *err);
/* readlinkat; "" name = the O_PATH|O_NOFOLLOW fd of the symlink itself. Returns the length or -1. */
ssize_t ns_readlinkat(int dirfd, const char *name, char *buf, size_t cap, struct ns_error *err);
/* A new regular file `name` (one component) under dirfd, made in one call for extraction:
 * created by openat2(O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW, 0600, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS),
 * so never through a symlink nor outside dirfd; `data` written whole; then owner (kept when uid
 * or gid is -1), mode and times set through the fd, and the fd closed. Returns 0 or -1 with err
 * (the failing step's syscall, and name); a file created before a later step failed stays. */
int ns_create_file_at(int dirfd, const char *name, const void *data, size_t len, int64_t uid, int64_t gid, mode_t mode,
                      int64_t atime_ns, int64_t mtime_ns, struct ns_error *err);
int ns_fsetxattr(int fd, const char *name, const void *value, size_t len, struct ns_error *err);
/* Lists xattr names of fd into buf (NUL-separated). Returns the length or -1. */
ssize_t ns_flistxattr(int fd, char *buf, size_t cap, struct ns_error *err);
ssize_t ns_fgetxattr(int fd, const char *name, void *buf, size_t cap, struct ns_error *err);

/* Directory entries of a directory fd (re-opened, so the caller's fd offset is untouched).
 * Calls cb(name, d_type, ctx) for each entry except "." and "..". Returns 0 or -1. */
int ns_readdir_fd(int dirfd, void (*cb)(const char *name, unsigned char type, void *ctx), void *ctx,
                  struct ns_error *err);

#endif
