#include "wire.h"

#include <string.h>

static uint32_t read_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void write_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

int wire_next_record(struct wire_cursor *c, uint32_t *type, struct wire_cursor *body) {
  if (c->left == 0) return 0;
  if (c->left < 8) return -1;
  uint32_t len = read_u32(c->p + 4);
  if (len > c->left - 8) return -1;
  *type = read_u32(c->p);
  body->p = c->p + 8;
  body->left = len;
  c->p += 8 + len;
  c->left -= 8 + (size_t)len;
  return 1;
}

int wire_next_field(struct wire_cursor *c, struct wire_field *f) {
  if (c->left == 0) return 0;
  if (c->left < 8) return -1;
  uint32_t len = read_u32(c->p + 4);
  if (len > c->left - 8) return -1;
  f->kind = c->p[0];
  f->len = len;
  f->bytes = (const char *)(c->p + 8);
  f->num = 0;
  if (f->kind == WIRE_INT) {
    if (len != 8) return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | c->p[8 + i];
    f->num = (int64_t)v;
  } else if (f->kind != WIRE_BYTES) {
    return -1;
  }
  c->p += 8 + len;
  c->left -= 8 + (size_t)len;
  return 1;
}

void wire_begin(struct wire_writer *w, uint8_t *buf, size_t cap, uint32_t type) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->overflow = cap < 8;
  w->header_at = 0;
  if (!w->overflow) {
    write_u32(buf, type);
    write_u32(buf + 4, 0);
    w->len = 8;
  }
}

static void put_field(struct wire_writer *w, int kind, const void *data, size_t len) {
  if (w->overflow || len > 0xffffffffu || w->cap - w->len < 8 + len) {
    w->overflow = 1;
    return;
  }
  uint8_t *p = w->buf + w->len;
  p[0] = (uint8_t)kind;
  p[1] = p[2] = p[3] = 0;
  write_u32(p + 4, (uint32_t)len);
  if (len) memcpy(p + 8, data, len);
  w->len += 8 + len;
}

void wire_put_int(struct wire_writer *w, int64_t v) {
  uint8_t b[8];
  uint64_t u = (uint64_t)v;
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(u >> (8 * i));
  put_field(w, WIRE_INT, b, 8);
}

void wire_put_bytes(struct wire_writer *w, const void *data, size_t len) { put_field(w, WIRE_BYTES, data, len); }

void wire_put_str(struct wire_writer *w, const char *s) { put_field(w, WIRE_BYTES, s, s ? strlen(s) : 0); }

long wire_end(struct wire_writer *w) {
  if (w->overflow) return -1;
  write_u32(w->buf + 4, (uint32_t)(w->len - 8));
  return (long)w->len;
}
