/*
 * frame.c: the codec of frame.h. No I/O here: callers own their sockets
 * and hand complete buffers in and out, so the codec is testable and
 * fuzzable on its own (fuzz/fuzz_frame.c).
 */
#include "proto/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Makes room for `n` more bytes, or sets the sticky error. */
static uint8_t *reserve(kumo__frame_writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > w->max || w->len > w->max - n) {
        w->err = -EMSGSIZE;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        if (cap > w->max)
            cap = w->max;
        char *nb = realloc(w->buf, cap);
        if (nb == NULL) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    uint8_t *p = (uint8_t *)w->buf + w->len;
    w->len += n;
    return p;
}

void kumo__frame_begin(kumo__frame_writer *w, size_t max, uint8_t type, uint32_t id)
{
    /* The ceiling is per frame: a buffer may hold several frames in a row. */
    w->start = w->len;
    w->max = w->start + (max ? max + KUMO__FRAME_HEADER_SIZE : KUMO__FRAME_MAX + KUMO__FRAME_HEADER_SIZE);
    uint8_t *p = reserve(w, KUMO__FRAME_HEADER_SIZE);
    if (p == NULL)
        return;
    p[0] = 'K';
    p[1] = 'F';
    p[2] = KUMO__FRAME_VERSION;
    p[3] = type;
    put_le32(p + 4, 0);
    put_le32(p + 8, id);
}

int kumo__frame_set_id(void *frame, size_t len, uint32_t id)
{
    if (len < KUMO__FRAME_HEADER_SIZE)
        return -EINVAL;
    put_le32((uint8_t *)frame + 8, id);
    return 0;
}

void kumo__frame_put(kumo__frame_writer *w, uint16_t tag, const void *data, size_t len)
{
    if (len > UINT32_MAX) {
        w->err = w->err ? w->err : -EMSGSIZE;
        return;
    }
    uint8_t *p = reserve(w, 6 + len);
    if (p == NULL)
        return;
    put_le16(p, tag);
    put_le32(p + 2, (uint32_t)len);
    if (len)
        memcpy(p + 6, data, len);
}

void kumo__frame_put_str(kumo__frame_writer *w, uint16_t tag, const char *s)
{
    kumo__frame_put(w, tag, s, s ? strlen(s) : 0);
}

void kumo__frame_put_u32(kumo__frame_writer *w, uint16_t tag, uint32_t v)
{
    uint8_t b[4];
    put_le32(b, v);
    kumo__frame_put(w, tag, b, 4);
}

void kumo__frame_put_u64(kumo__frame_writer *w, uint16_t tag, uint64_t v)
{
    uint8_t b[8];
    put_le32(b, (uint32_t)v);
    put_le32(b + 4, (uint32_t)(v >> 32));
    kumo__frame_put(w, tag, b, 8);
}

void kumo__frame_put_pair(kumo__frame_writer *w, uint16_t tag, const char *name, size_t name_len, const char *value,
                          size_t value_len)
{
    if (name_len > UINT32_MAX || value_len > UINT32_MAX - 4 - name_len) {
        w->err = w->err ? w->err : -EMSGSIZE;
        return;
    }
    size_t len = 4 + name_len + value_len;
    uint8_t *p = reserve(w, 6 + len);
    if (p == NULL)
        return;
    put_le16(p, tag);
    put_le32(p + 2, (uint32_t)len);
    put_le32(p + 6, (uint32_t)name_len);
    if (name_len)
        memcpy(p + 10, name, name_len);
    if (value_len)
        memcpy(p + 10 + name_len, value, value_len);
}

void kumo__frame_put_part(kumo__frame_writer *w, uint16_t tag, const char *name, size_t name_len, const char *filename,
                          size_t filename_len, const char *ctype, size_t ctype_len, const char *data, size_t data_len)
{
    const char *parts[3] = {name, filename, ctype};
    size_t lens[3] = {name_len, filename_len, ctype_len};
    size_t total = data_len;
    for (int i = 0; i < 3; i++) {
        if (lens[i] > UINT32_MAX || total > UINT32_MAX - 4 - lens[i]) {
            w->err = w->err ? w->err : -EMSGSIZE;
            return;
        }
        total += 4 + lens[i];
    }
    uint8_t *p = reserve(w, 6 + total);
    if (p == NULL)
        return;
    put_le16(p, tag);
    put_le32(p + 2, (uint32_t)total);
    p += 6;
    for (int i = 0; i < 3; i++) {
        put_le32(p, (uint32_t)lens[i]);
        if (lens[i])
            memcpy(p + 4, parts[i], lens[i]);
        p += 4 + lens[i];
    }
    if (data_len)
        memcpy(p, data, data_len);
}

int kumo__frame_end(kumo__frame_writer *w)
{
    if (w->err)
        return w->err;
    size_t payload = w->len - w->start - KUMO__FRAME_HEADER_SIZE;
    put_le32((uint8_t *)w->buf + w->start + 4, (uint32_t)payload);
    return 0;
}

void kumo__frame_reset(kumo__frame_writer *w)
{
    w->len = 0;
    w->start = 0;
    w->err = 0;
}

void kumo__frame_writer_free(kumo__frame_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

int kumo__frame_header_decode(const void *buf, size_t len, size_t max, kumo__frame_header *out)
{
    const uint8_t *p = buf;
    if (len < KUMO__FRAME_HEADER_SIZE)
        return -EAGAIN;
    if (p[0] != 'K' || p[1] != 'F' || p[2] != KUMO__FRAME_VERSION)
        return -EPROTO;
    out->version = p[2];
    out->type = p[3];
    out->length = get_le32(p + 4);
    out->id = get_le32(p + 8);
    if (out->length > (max ? max : KUMO__FRAME_MAX))
        return -EMSGSIZE;
    return 0;
}

void kumo__frame_reader_init(kumo__frame_reader *r, const void *payload, size_t len)
{
    r->p = payload;
    r->end = r->p + len;
}

int kumo__frame_next(kumo__frame_reader *r, kumo__frame_field *f)
{
    size_t left = (size_t)(r->end - r->p);
    if (left == 0)
        return 0;
    if (left < 6)
        return -EPROTO;
    uint32_t len = get_le32(r->p + 2);
    if (len > left - 6)
        return -EPROTO;
    f->tag = get_le16(r->p);
    f->len = len;
    f->data = (const char *)r->p + 6;
    r->p += 6 + (size_t)len;
    return 1;
}

int kumo__frame_pair(const kumo__frame_field *f, const char **name, size_t *name_len, const char **value,
                     size_t *value_len)
{
    if (f->len < 4)
        return -EPROTO;
    uint32_t nl = get_le32((const uint8_t *)f->data);
    if (nl > f->len - 4)
        return -EPROTO;
    *name = f->data + 4;
    *name_len = nl;
    *value = f->data + 4 + nl;
    *value_len = f->len - 4 - nl;
    return 0;
}

int kumo__frame_part(const kumo__frame_field *f, kumo__frame_part_view *out)
{
    const char *p = f->data, *end = f->data + f->len;
    const char **strs[3] = {&out->name, &out->filename, &out->ctype};
    size_t *lens[3] = {&out->name_len, &out->filename_len, &out->ctype_len};
    for (int i = 0; i < 3; i++) {
        if (end - p < 4)
            return -EPROTO;
        uint32_t n = get_le32((const uint8_t *)p);
        if (n > (size_t)(end - p) - 4)
            return -EPROTO;
        *strs[i] = p + 4;
        *lens[i] = n;
        p += 4 + n;
    }
    out->data = p;
    out->data_len = (size_t)(end - p);
    return 0;
}

int kumo__frame_u32(const kumo__frame_field *f, uint32_t *v)
{
    if (f->len != 4)
        return -EPROTO;
    *v = get_le32((const uint8_t *)f->data);
    return 0;
}

int kumo__frame_u64(const kumo__frame_field *f, uint64_t *v)
{
    if (f->len != 8)
        return -EPROTO;
    const uint8_t *p = (const uint8_t *)f->data;
    *v = (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
    return 0;
}

int kumo__frame_send_hello(int fd, uint32_t pid, const char *error)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO__FRAME_HELLO, 0);
    kumo__frame_put_u32(&w, KF_PID, pid);
    if (error)
        kumo__frame_put_str(&w, KF_ERROR, error);
    int rc = kumo__frame_end(&w);
    if (rc == 0 && write(fd, w.buf, w.len) != (ssize_t)w.len)
        rc = -1;
    kumo__frame_writer_free(&w);
    return rc;
}
