#include "nsjoin.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "mounts.h"
#include "safe_path.h"

struct join_job {
  int pidfd;
  int nstypes;
  int root_fd;
  struct ns_join_op *ops;
  int n;
  int failed;
  int rc;
  struct ns_error *err;
};

static int run_op(struct ns_join_op *op, int root, struct ns_error *err) {
  switch (op->kind) {
    case NS_JOIN_ATTACH:
    case NS_JOIN_MOUNT_FS: {
      struct ns_mount_spec spec;
      memset(&spec, 0, sizeof(spec));
      spec.kind = op->kind == NS_JOIN_ATTACH ? NS_MOUNT_FD : NS_MOUNT_FS;
      spec.source = op->kind == NS_JOIN_ATTACH ? "" : op->fstype;
      spec.source_root_fd = -1;
      spec.source_fd = op->tree_fd;
      spec.options = op->options ? op->options : "";
      spec.pidns_fd = -1;
      spec.target = op->path;
      spec.target_root_fd = root;
      spec.attr = op->kind == NS_JOIN_MOUNT_FS ? op->attr_set : 0;
      spec.propagation = op->propagation;
      spec.create_target = op->create;
      return ns_mount(&spec, err);
    }
    case NS_JOIN_OPEN_TREE:
      op->result_fd = ns_clone_tree(root, op->path, op->recursive, err);
      return op->result_fd < 0 ? -1 : 0;
    case NS_JOIN_UMOUNT:
      /* this thread's cwd is its own (CLONE_FS unshared): umount through it, not /proc/self,
       * which in the joined namespace is the workspace's proc or none */
      return ns_umount_in_root_chdir(root, op->path, op->flags, err);
    case NS_JOIN_MKDIR: {
      int fd = ns_mkdir_p_in_root(root, op->path, (mode_t)op->mode, err);
      if (fd < 0) return -1;
      close(fd);
      return 0;
    }
    case NS_JOIN_SETATTR:
      return ns_setattr(root, op->path, op->attr_set, op->attr_clr, op->propagation, -1, op->recursive, err);
    default:
      return ns_fail(err, EINVAL, "nsjoin", op->path);
  }
}

static void *join_thread(void *arg) {
  struct join_job *job = arg;
  job->failed = -1;
  job->rc = -1;
  if (unshare(CLONE_FS) < 0) {
    ns_fail(job->err, errno, "unshare", NULL);
    return NULL;
  }
  if (setns(job->pidfd, job->nstypes) < 0) {
    ns_fail(job->err, errno, "setns", NULL);
    return NULL;
  }
  /* "/" of the joined mount namespace when no root is given (the stage helper's "/" too) */
  int root = job->root_fd >= 0 ? job->root_fd : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    ns_fail(job->err, errno, "open", "/");
    return NULL;
  }
  int i = 0;
  for (; i < job->n; i++) {
    if (run_op(&job->ops[i], root, job->err) < 0) break;
  }
  if (root != job->root_fd) close(root);
  if (i < job->n) {
    job->failed = i;
    for (int j = 0; j < i; j++) {
      if (job->ops[j].result_fd >= 0) close(job->ops[j].result_fd);
      job->ops[j].result_fd = -1;
    }
    return NULL;
  }
  job->rc = 0;
  return NULL;
}

int ns_run_joined(int pidfd, int nstypes, int root_fd, struct ns_join_op *ops, int n, int *failed, struct ns_error *err) {
  *failed = -1;
  if (nstypes == 0 || (nstypes & ~NS_JOINABLE_FLAGS) != 0) {
    ns_fail(err, EINVAL, "setns", NULL);
    return ns_context(err, "a thread can join only mount, net, uts and ipc namespaces");
  }
  for (int i = 0; i < n; i++) ops[i].result_fd = -1;
  struct join_job job = {pidfd, nstypes, root_fd, ops, n, -1, -1, err};
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, join_thread, &job);
  if (rc != 0) return ns_fail(err, rc, "pthread_create", NULL);
  rc = pthread_join(thread, NULL);
  if (rc != 0) return ns_fail(err, rc, "pthread_join", NULL);
  *failed = job.failed;
  return job.rc;
}
