/* ns_error: the one error record of the C core.
 *
 * Every fallible core function returns -1 (or a negative value) and fills a trailing
 * `struct ns_error *err` with the errno, the syscall that failed and the path or pid involved.
 * The binding turns it into a NativeNsError (libs/native-ns/src/lib/native-ns.error.ts); the stage
 * helper sends it to Node in a MSG_ERROR message (wire.h). Both keep `errnum` unchanged. */
#ifndef NS_ERROR_H
#define NS_ERROR_H

#include <stddef.h>

#define NS_ERR_SYSCALL_MAX 32
#define NS_ERR_PATH_MAX 512
#define NS_ERR_DETAIL_MAX 256

struct ns_error {
  int errnum;                          /* errno value; 0 = no error */
  char syscall[NS_ERR_SYSCALL_MAX];    /* "mount", "openat2", ... */
  char path[NS_ERR_PATH_MAX];          /* path involved, "" if none */
  int pid;                             /* pid involved, 0 if none */
  char detail[NS_ERR_DETAIL_MAX];      /* what was being done, "" if nothing to add */
};

/* Records a failure and returns -1. `path` may be NULL. Keeps errno unchanged. */
int ns_fail(struct ns_error *err, int errnum, const char *syscall, const char *path);

/* Like ns_fail with a pid instead of a path. */
int ns_fail_pid(struct ns_error *err, int errnum, const char *syscall, int pid);

/* Adds context ("mounting proc at /proc") to an error already recorded; returns -1. */
int ns_context(struct ns_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears an error record. */
void ns_error_clear(struct ns_error *err);

/* The errno name ("EPERM"); "E?" for values this table does not know. */
const char *ns_errno_name(int errnum);

#endif
