/* spawn: creating a stage process. The creating thread clone3()s the child straight into its new
 * namespaces; the child only places two fds, sets its parent-death signal and execs the stage
 * helper. Everything else happens in the helper, which is single-threaded: a held stage waits
 * there for MSG_RELEASE (its id maps written), and becomes its user namespace's root then.
 * Between clone and exec the child makes raw syscalls only (it is a copy of a multi-threaded
 * process: no malloc, no locks). */
#ifndef NS_SPAWN_H
#define NS_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#include "ns_error.h"

/* Fixed fd numbers in a freshly exec'd stage helper. Twin: wire-constants.ts. */
#define NS_STAGE_CHANNEL_FD 3
#define NS_STAGE_EXE_FD 4

struct ns_spawn_request {
  uint64_t clone_flags; /* CLONE_NEW* flags */
  int channel_fd;       /* the child's end of the control channel: fd 3 in the helper */
  int exe_fd;           /* O_PATH fd of the helper binary: fd 4 in the helper, exec'd */
  const char *name;     /* argv[0] of the helper (what `ps` shows) */
  int pdeathsig;        /* 0 = none */
  int hold;             /* Node sends MSG_RELEASE (maps written) before the program; in a new
                         * user namespace the child keeps its capabilities across the exec
                         * (ambient) so that the helper can become the namespace's root then */
  int cgroup_fd;        /* CLONE_INTO_CGROUP target, or -1 */
};

/* Creates the stage. Returns its pid (and a pidfd in *pidfd_out) or -1 with err. The pdeath
 * signal fires when the CALLING THREAD exits: call this from a thread that outlives the stage.
 * With block_out (and no cgroup_fd) the child shares this process's memory until its exec
 * (clone(CLONE_VM), like posix_spawn): the calling thread must have every signal blocked, and
 * *block_out must be given to ns_spawn_free once the child is reaped. Without, the child is a
 * copy (fork-like; what a small single-threaded stage uses). */
pid_t ns_spawn_stage(const struct ns_spawn_request *req, int *pidfd_out, void **block_out, struct ns_error *err);

/* Frees what a memory-sharing child used (NULL: nothing). */
void ns_spawn_free(void *block);

#endif
