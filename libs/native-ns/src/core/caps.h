/* caps: capability sets for a stage's command (bounding, effective, permitted, inheritable,
 * ambient), as 64-bit masks of CAP_* numbers. */
#ifndef NS_CAPS_H
#define NS_CAPS_H

#include <stdint.h>

#include "ns_error.h"

struct ns_caps {
  uint64_t bounding, effective, permitted, inheritable, ambient;
};

/* Drops every capability outside caps->bounding from the bounding set. Returns 0/-1. */
int ns_caps_limit_bounding(const struct ns_caps *caps, struct ns_error *err);

/* Sets effective/permitted/inheritable, then raises the ambient ones (which must be in permitted
 * and inheritable) and clears the rest of the ambient set. Returns 0/-1. */
int ns_caps_apply(const struct ns_caps *caps, struct ns_error *err);

/* Empties the inheritable set, keeping effective and permitted. Returns 0/-1. */
int ns_caps_clear_inheritable(struct ns_error *err);

#endif
