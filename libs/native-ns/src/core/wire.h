/* wire: the records exchanged between Node and the stage helper over the stage's control channel
 * (a SOCK_SEQPACKET socketpair), and the directives of a stage program.
 *
 * A record is {u32 type, u32 len} + len bytes of fields; a field is {u8 kind, 3 bytes 0, u32 len}
 * + len bytes: kind 1 = int64 (len 8, little endian), kind 2 = bytes. A PROGRAM message's payload
 * is itself a sequence of directive records. Twin: libs/native-ns/src/lib/wire.ts and
 * wire-constants.ts (keep the numbers equal). */
#ifndef NS_WIRE_H
#define NS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ns_error.h"

/* Messages, Node -> stage */
#define MSG_RELEASE 1 /* [int become_root]: a held stage's id maps are written; its program follows */
#define MSG_ABORT 2   /* a held or waiting child exits without running anything */
#define MSG_PROGRAM 3 /* the stage program; fds referenced by the program travel with it */
#define MSG_GO 4      /* answers a WAIT step: [bytes tag] */
/* Messages, stage -> Node */
#define MSG_ERROR 10   /* [int step, int errno, bytes syscall, bytes path, int pid, bytes detail] */
#define MSG_CHILD 11   /* [int step, int pid-in-stage] + pidfd of the nested stage */
#define MSG_FD 12      /* [bytes tag] + one fd */
#define MSG_WAITING 13 /* [bytes tag]: a WAIT step waits for MSG_GO with that tag */
#define MSG_NOTICE 14  /* [int step, bytes text]: e.g. an optional mount skipped */
#define MSG_DONE 15    /* an EXIT program finished every step */
#define MSG_STARTED 16 /* the stage reached its end: it execs now (EOF follows) or waits for its child */

/* Program directives: settings (applied before exec, in a fixed order) */
#define OP_ARGV 1       /* [bytes...] */
#define OP_ENV 2        /* [bytes "K=V"...] */
#define OP_CWD 3        /* [bytes] */
#define OP_CREDS 4      /* [int uid, int gid, int group...] */
#define OP_FD 5         /* [int target, int ref]: received fd #ref becomes fd target */
#define OP_PDEATHSIG 6  /* [int signal] */
#define OP_SETSID 7     /* [int ctty target fd or -1] */
#define OP_NNP 8        /* [] no_new_privs */
#define OP_CAPS 9       /* [int bounding, int effective, int permitted, int inheritable, int ambient] */
#define OP_NOCORE 11    /* [] RLIMIT_CORE 0 */
#define OP_SECCOMP 13   /* [int listener, int nnp, bytes tag, (int nr, int action)...] */
/* Program directives: steps (run in order) */
#define OP_MOUNT 20     /* [int kind, bytes source, int src_root, bytes target, int dst_root, bytes options,
                            int pidns_ref, int attr, int propagation, int create, int optional, int src_fd_ref] */
#define OP_OPEN_ROOT 21 /* [int register, bytes path] */
#define OP_MKDIR 22     /* [int root, bytes path, int mode] */
#define OP_PIVOT_ROOT 23 /* [bytes path] */
#define OP_CHROOT 24    /* [bytes path] */
#define OP_WAIT 25      /* [bytes tag] */
#define OP_SETNS 26     /* [int fd ref, int nstype flags] */
#define OP_ENTER_ROOT 27 /* [int fd ref]: fchdir + chroot(".") */
#define OP_SPAWN 28     /* [int clone flags, int channel ref, int pdeathsig, bytes name] */
#define OP_SETATTR 29   /* [int root, bytes path, int set, int clr, int propagation, int recursive] */
#define OP_UMOUNT 30    /* [int root, bytes path, int flags] */
#define OP_OPEN_TREE 31 /* [int root, bytes path, int recursive, bytes tag] -> MSG_FD */
#define OP_HOSTNAME 32  /* [bytes] */
#define OP_RSLAVE 33    /* [] make the whole mount namespace rslave */
#define OP_SETCREDS 34  /* [int uid, int gid, int group...]: switch ids now (e.g. to root of a joined user namespace) */
#define OP_UNSHARE 35   /* [int clone flags]: new namespaces for the stage itself, now */
#define OP_INSTALL_SECCOMP 36 /* []: the stage's seccomp filter (OP_SECCOMP) now, its listener sent up; not again before the exec */
/* Program directives: the end */
#define OP_EXEC 40      /* exec ARGV with ENV in CWD */
#define OP_WAIT_CHILD 41 /* stay as the waiter of the spawned stage: forward signals, exit with its status */
#define OP_EXIT 42      /* [int code] */

#define WIRE_INT 1
#define WIRE_BYTES 2

/* A root register or fd ref of -1 means "none / the caller's own root". */
#define WIRE_NONE (-1)

#define WIRE_MAX_MESSAGE (256 * 1024)

struct wire_cursor {
  const uint8_t *p;
  size_t left;
};

struct wire_field {
  int kind;
  int64_t num;        /* WIRE_INT */
  const char *bytes;  /* WIRE_BYTES: NUL-terminated copy is NOT made; use len */
  uint32_t len;
};

/* Reads the next record header; body points into the buffer. Returns 1, 0 at the end, -1 malformed. */
int wire_next_record(struct wire_cursor *c, uint32_t *type, struct wire_cursor *body);

/* Reads the next field. Returns 1, 0 at the end, -1 malformed. */
int wire_next_field(struct wire_cursor *c, struct wire_field *f);

/* Writer: appends to a fixed buffer; `overflow` is set instead of writing past the end. */
struct wire_writer {
  uint8_t *buf;
  size_t cap;
  size_t len;
  size_t header_at;
  int overflow;
};

void wire_begin(struct wire_writer *w, uint8_t *buf, size_t cap, uint32_t type);
void wire_put_int(struct wire_writer *w, int64_t v);
void wire_put_bytes(struct wire_writer *w, const void *data, size_t len);
void wire_put_str(struct wire_writer *w, const char *s);
/* Finishes the record; returns its total length or -1 on overflow. */
long wire_end(struct wire_writer *w);

#endif
