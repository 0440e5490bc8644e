#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int last_cap(void) {
  /* probe the kernel's highest capability: PR_CAPBSET_READ fails with EINVAL past it */
  int cap = 0;
  while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0) cap++;
  return cap;
}

int ns_caps_limit_bounding(const struct ns_caps *caps, struct ns_error *err) {
  int last = last_cap();
  for (int cap = 0; cap <= last; cap++) {
    if (caps->bounding & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
      char name[32];
      snprintf(name, sizeof(name), "PR_CAPBSET_DROP %d", cap);
      return ns_fail(err, errno, "prctl", name);
    }
  }
  return 0;
}

int ns_caps_apply(const struct ns_caps *caps, struct ns_error *err) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(caps->effective >> (32 * i));
    data[i].permitted = (uint32_t)(caps->permitted >> (32 * i));
    data[i].inheritable = (uint32_t)(caps->inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) return ns_fail(err, errno, "capset", NULL);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  for (int cap = 0; cap < 64; cap++) {
    if (!(caps->ambient & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
      char name[40];
      snprintf(name, sizeof(name), "PR_CAP_AMBIENT_RAISE %d", cap);
      return ns_fail(err, errno, "prctl", name);
    }
  }
  return 0;
}

int ns_caps_clear_inheritable(struct ns_error *err) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return ns_fail(err, errno, "capget", NULL);
  data[0].inheritable = 0;
  data[1].inheritable = 0;
  if (syscall(SYS_capset, &hdr, data) < 0) return ns_fail(err, errno, "capset", NULL);
  return 0;
}
