/*
 * fuzz_http1.c: libFuzzer target for kumo-http's request reader
 * (src/host/http1.c). The input is what a client sent on a connection.
 *
 * The head is parsed from an exact-size copy (a read past it is an ASan
 * error). A complete head must lie inside the input, its slices inside the
 * head, at most http.max_headers fields with lower-case token names, a
 * Content-Length or chunked, never both; no shorter prefix of it may be
 * taken as complete, nor give another refusal than the whole. A chunked
 * body after it is decoded twice, whole and in two pieces split where the
 * input's first byte says (compacted between the calls as lean_http.c
 * does): both must agree on the outcome, the bytes decoded and where the
 * coding ends, and never decode more than the ceiling.
 * Seeds: fuzz/corpus/http1/.
 */
#include "host/http1.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16
#define MAX_BODY 4096

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int inside(const kumo__slice *s, const char *b, size_t n)
{
    return s->base == NULL ? s->len == 0 : s->base >= b && s->base + s->len <= b + n;
}

/* Decodes buf[0..len) as a chunked body in two calls, split at `at`. */
static int dechunk_split(char *buf, size_t len, size_t at, kumo__h1_chunks *c, char *why)
{
    int rc = kumo__h1_dechunk(buf, at, MAX_BODY, c, why, 256);
    if (rc != 0)
        return rc;
    size_t rest = len - c->in;
    memmove(buf + c->out, buf + c->in, rest);
    len = c->out + rest;
    c->in = c->out;
    return kumo__h1_dechunk(buf, len, MAX_BODY, c, why, 256);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    kumo__http_limits lim = {.max_headers = MAX_HEADERS, .max_header_bytes = 1024};
    kumo__header_view hv[MAX_HEADERS];
    kumo__h1_head h;
    char why[256];
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    int rc = kumo__h1_parse_head(buf, size, &lim, hv, &h, why, sizeof(why));
    if (rc < -505 || rc > 1 || (rc < 0 && why[0] == '\0'))
        __builtin_trap();
    if (rc == 1) {
        if (h.len == 0 || h.len > size || h.nheaders > MAX_HEADERS || h.minor > 1 || h.content_length < -1 ||
            (h.chunked && h.content_length >= 0) || !inside(&h.method, buf, h.len) || !inside(&h.path, buf, h.len) ||
            !inside(&h.query, buf, h.len) || h.path.len == 0)
            __builtin_trap();
        for (size_t i = 0; i < h.nheaders; i++) {
            if (!inside(&hv[i].name, buf, h.len) || !inside(&hv[i].value, buf, h.len) || hv[i].name.len == 0)
                __builtin_trap();
            for (size_t k = 0; k < hv[i].name.len; k++)
                if (!tchar((unsigned char)hv[i].name.base[k]))
                    __builtin_trap(); /* names are tokens, lower-cased */
        }
        /* a shorter prefix is never complete (heads may be refused early,
         * but only as the whole is) */
        size_t cut = h.len - 1 - (size > 0 ? data[0] % h.len : 0) % h.len;
        memcpy(buf, data, size);
        kumo__h1_head p;
        int prc = kumo__h1_parse_head(buf, cut, &lim, hv, &p, why, sizeof(why));
        if (prc == 1)
            __builtin_trap();
        if (h.chunked) {
            size_t blen = size - h.len;
            char *a = malloc(blen ? blen : 1), *b = malloc(blen ? blen : 1);
            if (a && b) {
                memcpy(a, data + h.len, blen);
                memcpy(b, data + h.len, blen);
                kumo__h1_chunks ca = {0}, cb = {0};
                int ra = kumo__h1_dechunk(a, blen, MAX_BODY, &ca, why, sizeof(why));
                int rb = dechunk_split(b, blen, blen ? data[0] % (blen + 1) : 0, &cb, why);
                if (ra != rb || ca.out > MAX_BODY || cb.out > MAX_BODY)
                    __builtin_trap();
                if (ra == 1 && (ca.out != cb.out || memcmp(a, b, ca.out) != 0 || ca.in > blen || ca.in < ca.out))
                    __builtin_trap();
            }
            free(a);
            free(b);
        }
    }
    free(buf);
    return 0;
}
