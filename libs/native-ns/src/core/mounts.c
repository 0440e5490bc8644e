#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_path.h"
#include "sys.h"

static uint64_t propagation_flag(int propagation) {
  switch (propagation) {
    case NS_PROP_PRIVATE:
      return MS_PRIVATE;
    case NS_PROP_SLAVE:
      return MS_SLAVE;
    case NS_PROP_SHARED:
      return MS_SHARED;
    case NS_PROP_UNBINDABLE:
      return MS_UNBINDABLE;
    default:
      return 0;
  }
}

int ns_clone_tree(int root_fd, const char *path, int recursive, struct ns_error *err) {
  unsigned int flags = NS_OPEN_TREE_CLONE | NS_OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  int tree;
  if (root_fd >= 0) {
    int src = ns_open_in_root(root_fd, path, O_PATH, err);
    if (src < 0) return -1;
    tree = sys_open_tree(src, "", flags | AT_EMPTY_PATH);
    int saved = errno;
    close(src);
    errno = saved;
  } else {
    tree = sys_open_tree(AT_FDCWD, path, flags);
  }
  if (tree < 0) return ns_fail(err, errno, "open_tree", path);
  return tree;
}

/* Applies "key=value,flag,..." options to an fs context. */
static int apply_fs_options(int fs, const char *fstype, const char *options, struct ns_error *err) {
  if (options == NULL || options[0] == '\0') return 0;
  char buf[NS_ERR_PATH_MAX];
  if (strlen(options) >= sizeof(buf)) return ns_fail(err, E2BIG, "fsconfig", fstype);
  strcpy(buf, options);
  char *save = NULL;
  for (char *opt = strtok_r(buf, ",", &save); opt != NULL; opt = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(opt, '=');
    int rc;
    if (eq != NULL) {
      *eq = '\0';
      rc = sys_fsconfig(fs, NS_FSCONFIG_SET_STRING, opt, eq + 1, 0);
    } else {
      rc = sys_fsconfig(fs, NS_FSCONFIG_SET_FLAG, opt, NULL, 0);
    }
    if (rc < 0) {
      ns_fail(err, errno, "fsconfig", fstype);
      return ns_context(err, "option %s", opt);
    }
  }
  return 0;
}

int ns_new_fs(const char *fstype, const char *options, const char *const *fd_keys, const int *fds, int nfds, uint64_t attr,
              struct ns_error *err) {
  int fs = sys_fsopen(fstype, NS_FSOPEN_CLOEXEC);
  if (fs < 0) return ns_fail(err, errno, "fsopen", fstype);
  int tree = -1;
  for (int i = 0; i < nfds; i++) {
    if (sys_fsconfig(fs, NS_FSCONFIG_SET_FD, fd_keys[i], NULL, fds[i]) < 0) {
      ns_fail(err, errno, "fsconfig", fstype);
      ns_context(err, "option %s", fd_keys[i]);
      goto out;
    }
  }
  if (apply_fs_options(fs, fstype, options, err) < 0) goto out;
  if (sys_fsconfig(fs, NS_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
    ns_fail(err, errno, "fsconfig", fstype);
    ns_context(err, "creating the superblock");
    goto out;
  }
  tree = sys_fsmount(fs, NS_FSMOUNT_CLOEXEC, (unsigned int)attr);
  if (tree < 0) ns_fail(err, errno, "fsmount", fstype);
out:
  close(fs);
  return tree;
}

int ns_setattr_fd(int tree_fd, uint64_t attr_set, uint64_t attr_clr, int propagation, int userns_fd, int recursive,
                  struct ns_error *err) {
  struct ns_mount_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.attr_set = attr_set;
  attr.attr_clr = attr_clr;
  attr.propagation = propagation_flag(propagation);
  if (userns_fd >= 0) attr.userns_fd = (uint64_t)userns_fd;
  if (attr.attr_set == 0 && attr.attr_clr == 0 && attr.propagation == 0) return 0;
  unsigned int flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  if (sys_mount_setattr(tree_fd, "", flags, &attr) < 0) {
    char path[32];
    ns_fd_path(tree_fd, path, sizeof(path));
    return ns_fail(err, errno, "mount_setattr", path);
  }
  return 0;
}

int ns_setattr(int root_fd, const char *path, uint64_t attr_set, uint64_t attr_clr, int propagation, int userns_fd,
               int recursive, struct ns_error *err) {
  int fd = ns_open_in_root(root_fd, path, O_PATH, err);
  if (fd < 0) return -1;
  int rc = ns_setattr_fd(fd, attr_set, attr_clr, propagation, userns_fd, recursive, err);
  if (rc < 0) strncpy(err->path, path, sizeof(err->path) - 1);
  close(fd);
  return rc;
}

/* Opens the mount point, creating it (dir or empty file, like the source) when asked. */
static int open_target(int root_fd, const char *target, int source_is_dir, int create, struct ns_error *err) {
  int fd = ns_open_in_root(root_fd, target, O_PATH, err);
  if (fd >= 0 || err->errnum != ENOENT || !create) return fd;
  if (source_is_dir) return ns_mkdir_p_in_root(root_fd, target, 0755, err);
  if (ns_touch_in_root(root_fd, target, 0644, err) < 0) return -1;
  return ns_open_in_root(root_fd, target, O_PATH, err);
}

int ns_attach_tree(int tree_fd, int root_fd, const char *target, int create_target, struct ns_error *err) {
  struct stat src_st, dst_st;
  if (fstat(tree_fd, &src_st) < 0) return ns_fail(err, errno, "fstat", target);
  int tfd = open_target(root_fd, target, S_ISDIR(src_st.st_mode), create_target, err);
  if (tfd < 0) return -1;
  int rc = 0;
  /* a file mounts only on a non-directory and a directory only on a directory; the target's type
   * is checked on the fd itself, so a symlink swapped in later changes nothing */
  if (fstat(tfd, &dst_st) < 0) {
    rc = ns_fail(err, errno, "fstat", target);
  } else if (S_ISDIR(src_st.st_mode) != S_ISDIR(dst_st.st_mode)) {
    rc = ns_fail(err, S_ISDIR(src_st.st_mode) ? ENOTDIR : EISDIR, "move_mount", target);
  } else if (sys_move_mount(tree_fd, "", tfd, "", NS_MOVE_MOUNT_F_EMPTY_PATH | NS_MOVE_MOUNT_T_EMPTY_PATH) < 0) {
    rc = ns_fail(err, errno, "move_mount", target);
  }
  close(tfd);
  return rc;
}

int ns_mount(const struct ns_mount_spec *spec, struct ns_error *err) {
  int tree = -1;
  int recursive = spec->kind == NS_MOUNT_RBIND;
  switch (spec->kind) {
    case NS_MOUNT_BIND:
    case NS_MOUNT_RBIND:
      tree = ns_clone_tree(spec->source_root_fd, spec->source, recursive, err);
      if (tree >= 0 && ns_setattr_fd(tree, spec->attr, 0, NS_PROP_NONE, -1, recursive, err) < 0) goto fail;
      break;
    case NS_MOUNT_FS:
    {
      const char *keys[1] = {"pidns"};
      tree = ns_new_fs(spec->source, spec->options, keys, &spec->pidns_fd, spec->pidns_fd >= 0 ? 1 : 0, spec->attr, err);
    }
      break;
    case NS_MOUNT_FD:
      /* close-on-exec: a thread of the addon may do this while another spawns a stage */
      tree = fcntl(spec->source_fd, F_DUPFD_CLOEXEC, 3);
      if (tree < 0) ns_fail(err, errno, "fcntl", spec->target);
      else if (ns_setattr_fd(tree, spec->attr, 0, NS_PROP_NONE, -1, 1, err) < 0) goto fail;
      break;
    default:
      return ns_fail(err, EINVAL, "mount", spec->target);
  }
  if (tree < 0) goto fail;
  if (ns_attach_tree(tree, spec->target_root_fd, spec->target, spec->create_target, err) < 0) goto fail;
  if (ns_setattr_fd(tree, 0, 0, spec->propagation, -1, recursive, err) < 0) goto fail;
  close(tree);
  return 0;
fail:
  if (tree >= 0) close(tree);
  return -1;
}

int ns_umount_in_root(int root_fd, const char *path, int flags, struct ns_error *err) {
  int fd = ns_open_in_root(root_fd, path, O_PATH, err);
  if (fd < 0) return -1;
  char fdpath[32];
  ns_fd_path(fd, fdpath, sizeof(fdpath));
  /* the magic link resolves to exactly the mount the fd was opened on: no second lookup */
  int rc = umount2(fdpath, flags);
  int saved = errno;
  close(fd);
  if (rc < 0) return ns_fail(err, saved, "umount2", path);
  return 0;
}

int ns_umount_in_root_chdir(int root_fd, const char *path, int flags, struct ns_error *err) {
  int fd = ns_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
  if (fd < 0) return -1;
  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;
  if (cwd < 0) rc = ns_fail(err, errno, "open", ".");
  else if (fchdir(fd) < 0) rc = ns_fail(err, errno, "fchdir", path);
  else if (umount2(".", flags) < 0) rc = ns_fail(err, errno, "umount2", path);
  if (cwd >= 0) {
    if (fchdir(cwd) < 0 && rc == 0) rc = ns_fail(err, errno, "fchdir", ".");
    close(cwd);
  }
  close(fd);
  return rc;
}

int ns_pivot_root(const char *new_root, struct ns_error *err) {
  /* nothing may propagate from this namespace back out; mounts from outside still arrive */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) return ns_fail(err, errno, "mount", "/");
  if (chdir(new_root) < 0) return ns_fail(err, errno, "chdir", new_root);
  /* pivot_root needs new_root to be a mount point of this namespace: bind it onto itself */
  int tree = sys_open_tree(AT_FDCWD, ".", NS_OPEN_TREE_CLONE | NS_OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) return ns_fail(err, errno, "open_tree", new_root);
  int rc = sys_move_mount(tree, "", AT_FDCWD, ".", NS_MOVE_MOUNT_F_EMPTY_PATH);
  int saved = errno;
  close(tree);
  if (rc < 0) return ns_fail(err, saved, "move_mount", new_root);
  if (chdir(new_root) < 0) return ns_fail(err, errno, "chdir", new_root);
  if (mount(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL) < 0) return ns_fail(err, errno, "mount", new_root);
  if (sys_pivot_root(".", ".") < 0) return ns_fail(err, errno, "pivot_root", new_root);
  if (umount2(".", MNT_DETACH) < 0) return ns_fail(err, errno, "umount2", "(old root)");
  if (chdir("/") < 0) return ns_fail(err, errno, "chdir", "/");
  return 0;
}

int ns_chroot(const char *path, struct ns_error *err) {
  if (chdir(path) < 0) return ns_fail(err, errno, "chdir", path);
  if (chroot(".") < 0) return ns_fail(err, errno, "chroot", path);
  if (chdir("/") < 0) return ns_fail(err, errno, "chdir", "/");
  return 0;
}
