/*
 * local.c: the adapter for kumo's own runtime. A worker process reads
 * request frames (proto/frame.h) from the socket it inherited, turns each
 * into a kumo_request whose strings point into the frame or the arena,
 * calls the handler named in the frame, and writes one response frame.
 * One invocation at a time, in order: the gateway may send requests ahead
 * (they wait in the socket), and each answer is written before the next
 * request is read, so a crash fails only the call that was running.
 *
 * A handler's outbound HTTP call (sdk/http.c) is a KUMO__FRAME_HTTP_CALL
 * written to the same socket; the worker then blocks for the gateway's
 * KUMO__FRAME_HTTP_RESULT. Requests sent ahead that arrive meanwhile are
 * kept, in order, and run after the current one.
 */
#include "sdk/sdk.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/frame.h"

typedef struct handler_cache {
    char **names;
    kumo_handler **fns;
    size_t n, cap;
} handler_cache;

/* The exported functions of the units, read from their dynamic symbol
 * tables by kumo__local_preload (in the fork server, before it forks):
 * sorted by name. A worker's first lookup of its handler then touches
 * these few pages instead of dlsym's path through the dynamic linker's
 * maps, hash tables and locks: measured, that path cost 40 to 60 us of a
 * cold start, though no page faulted (the pages were cold to the CPU). */
typedef struct preloaded {
    const void *unit;
    const char *name; /* in the unit's string table */
    kumo_handler *fn;
} preloaded;

static preloaded *preload;
static size_t npreload;

static int preloaded_cmp(const void *a, const void *b)
{
    const preloaded *x = a, *y = b;
    if (x->unit != y->unit)
        return (uintptr_t)x->unit < (uintptr_t)y->unit ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A dynamic-section address: glibc relocates most of them in place, some
 * ports leave them as linked (then below the load address). */
static uintptr_t dyn_addr(const struct link_map *lm, ElfW(Addr) a)
{
    return a < lm->l_addr ? lm->l_addr + a : a;
}

/* The number of entries of the symbol table, from DT_GNU_HASH (the last
 * chain's end) or DT_HASH (nchain). 0 when neither is there. */
static size_t count_symbols(const uint32_t *gnu, const uint32_t *sysv)
{
    if (sysv)
        return sysv[1];
    if (gnu == NULL)
        return 0;
    uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom = gnu[2];
    const uint32_t *buckets = gnu + 4 + bloom * (sizeof(ElfW(Addr)) / 4);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > last)
            last = buckets[i];
    if (last < symoffset)
        return symoffset;
    while ((chain[last - symoffset] & 1) == 0)
        last++;
    return (size_t)last + 1;
}

/* Whether a symbol may be a handler as dlsym would find it: a global or
 * weak function the object defines, in its default version (a hidden
 * version, bit 15 of its DT_VERSYM entry, is one dlsym does not return). */
static int is_handler(const ElfW(Sym) * s, ElfW(Half) version)
{
    int bind = ELF64_ST_BIND(s->st_info);
    return ELF64_ST_TYPE(s->st_info) == STT_FUNC && (bind == STB_GLOBAL || bind == STB_WEAK) &&
           s->st_shndx != SHN_UNDEF && s->st_value != 0 && (version & 0x8000) == 0;
}

int kumo__local_preload(void *unit)
{
    struct link_map *lm = NULL;
    if (dlinfo(unit, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL)
        return -1;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const uint32_t *gnu = NULL, *sysv = NULL;
    const ElfW(Half) *versym = NULL;
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_SYMTAB)
            symtab = (const ElfW(Sym) *)dyn_addr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_STRTAB)
            strtab = (const char *)dyn_addr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_GNU_HASH)
            gnu = (const uint32_t *)dyn_addr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_HASH)
            sysv = (const uint32_t *)dyn_addr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_VERSYM)
            versym = (const ElfW(Half) *)dyn_addr(lm, d->d_un.d_ptr);
    }
    size_t nsyms = symtab && strtab ? count_symbols(gnu, sysv) : 0, n = 0;
    for (size_t i = 0; i < nsyms; i++)
        n += is_handler(&symtab[i], versym ? versym[i] : 0);
    if (n == 0)
        return 0;
    preloaded *grown = realloc(preload, (npreload + n) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    preload = grown;
    for (size_t i = 0; i < nsyms; i++) {
        const ElfW(Sym) *s = &symtab[i];
        if (is_handler(s, versym ? versym[i] : 0)) {
            preloaded *e = &preload[npreload++];
            e->unit = unit;
            e->name = strtab + s->st_name;
            *(void **)&e->fn = (void *)(lm->l_addr + s->st_value);
        }
    }
    qsort(preload, npreload, sizeof(*preload), preloaded_cmp);
    return 0;
}

kumo_handler *kumo__local_find(void *unit, const char *name)
{
    if (npreload == 0)
        return NULL;
    preloaded key = {.unit = unit, .name = name};
    const preloaded *e = bsearch(&key, preload, npreload, sizeof(*preload), preloaded_cmp);
    return e ? e->fn : NULL;
}

static kumo_handler *lookup(handler_cache *hc, void *unit, const char *name)
{
    kumo_handler *found = kumo__local_find(unit, name);
    if (found)
        return found;
    for (size_t i = 0; i < hc->n; i++)
        if (strcmp(hc->names[i], name) == 0)
            return hc->fns[i];
    kumo_handler *fn;
    *(void **)&fn = dlsym(unit, name);
    if (fn == NULL)
        return NULL;
    if (hc->n == hc->cap) {
        size_t cap = hc->cap ? hc->cap * 2 : 16;
        char **names = realloc(hc->names, cap * sizeof(*names));
        if (names == NULL)
            return fn;
        hc->names = names;
        kumo_handler **fns = realloc(hc->fns, cap * sizeof(*fns));
        if (fns == NULL)
            return fn;
        hc->fns = fns;
        hc->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return fn;
    hc->names[hc->n] = copy;
    hc->fns[hc->n++] = fn;
    return fn;
}

static void cache_free(handler_cache *hc)
{
    for (size_t i = 0; i < hc->n; i++)
        free(hc->names[i]);
    free(hc->names);
    free(hc->fns);
}

/* Frames come in through one buffer, read in large pieces: a request
 * usually arrives with one read(2), and requests the pool sent ahead
 * (or pipelined: concurrency > 1) with fewer. */
typedef struct inbuf {
    char *buf;
    size_t start, len, cap; /* unread bytes are buf[start, start + len) */
} inbuf;

#define INBUF_READ 65536

/* The next complete frame: 1 and *h, *payload (NUL-terminated in place;
 * the byte it covers is saved in *saved, restore with inbuf_consume);
 * 0 on EOF at a frame boundary; negative errno otherwise. */
static int next_frame(int fd, inbuf *in, kumo__frame_header *h, char **payload, char *saved)
{
    for (;;) {
        int rc = kumo__frame_header_decode(in->buf + in->start, in->len, 0, h);
        if (rc != 0 && rc != -EAGAIN)
            return rc;
        size_t need = rc == -EAGAIN ? KUMO__FRAME_HEADER_SIZE : KUMO__FRAME_HEADER_SIZE + (size_t)h->length;
        if (rc == 0 && in->len >= need) {
            *payload = in->buf + in->start + KUMO__FRAME_HEADER_SIZE;
            *saved = (*payload)[h->length];
            (*payload)[h->length] = '\0';
            return 1;
        }
        /* room for the rest of this frame, its NUL, and a large read */
        if (in->start > 0 && in->start + need + 1 > in->cap) {
            memmove(in->buf, in->buf + in->start, in->len);
            in->start = 0;
        }
        size_t want = in->start + need + 1 + INBUF_READ;
        if (want > in->cap) {
            char *nb = realloc(in->buf, want);
            if (nb == NULL)
                return -ENOMEM;
            in->buf = nb;
            in->cap = want;
        }
        /* Waiting in poll(2), not in read(2): a reader blocked on a Unix
         * socket is woken (for nothing) each time the gateway reads what
         * this worker wrote, since both directions share one wait queue;
         * poll's wait looks at what the wakeup is for. Under load the next
         * request is usually here already, and the recv finds it. */
        char *dst = in->buf + in->start + in->len;
        size_t room = in->cap - in->start - in->len - 1;
        ssize_t n = recv(fd, dst, room, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        if (n < 0 && errno == ENOTSOCK)
            n = read(fd, dst, room);
        if (n > 0)
            in->len += (size_t)n;
        else if (n == 0)
            return in->len == 0 ? 0 : -EPROTO;
        else if (errno != EINTR)
            return -errno;
    }
}

/* The outbound HTTP transport: the socket, the frame being served (its
 * bytes stay where the request's strings point), and what arrives behind
 * it while a call waits (side: requests sent ahead, in order). */
typedef struct egress_conn {
    int fd;
    inbuf *in;
    size_t cur;  /* bytes of the current frame at in->start */
    char *saved; /* the byte its NUL covers */
    inbuf side;
    uint32_t next_id;
    kumo__frame_writer w;
} egress_conn;

static int write_full(int fd, const void *buf, size_t len);

/* Moves what the inbuf holds behind the current frame to side. */
static int egress_take_tail(egress_conn *ec)
{
    inbuf *in = ec->in;
    if (in->len <= ec->cur)
        return 0;
    size_t n = in->len - ec->cur;
    if (ec->side.len + n + 1 > ec->side.cap) {
        char *nb = realloc(ec->side.buf, ec->side.len + n + 1 + INBUF_READ);
        if (nb == NULL)
            return -ENOMEM;
        ec->side.buf = nb;
        ec->side.cap = ec->side.len + n + 1 + INBUF_READ;
    }
    char *src = in->buf + in->start + ec->cur;
    memcpy(ec->side.buf + ec->side.len, src, n);
    ec->side.buf[ec->side.len] = *ec->saved; /* the real first byte */
    ec->side.len += n;
    in->len = ec->cur;
    return 0;
}

/* Looks through side for the result `id`: 1 and *r when there, 0 when
 * more bytes are needed, negative on a protocol error. Stale results
 * (a call given up on earlier) are dropped; requests stay. */
static int egress_find(egress_conn *ec, uint32_t id, kumo__http_result *r)
{
    size_t off = 0;
    while (off + KUMO__FRAME_HEADER_SIZE <= ec->side.len) {
        kumo__frame_header h;
        int rc = kumo__frame_header_decode(ec->side.buf + off, ec->side.len - off, 0, &h);
        if (rc != 0)
            return rc == -EAGAIN ? 0 : rc;
        size_t n = KUMO__FRAME_HEADER_SIZE + (size_t)h.length;
        if (ec->side.len - off < n)
            return 0;
        if (h.type == KUMO__FRAME_REQUEST) {
            off += n;
            continue;
        }
        if (h.type != KUMO__FRAME_HTTP_RESULT)
            return -EPROTO;
        int mine = h.id == id;
        if (mine && kumo__http_result_read(ec->side.buf + off + KUMO__FRAME_HEADER_SIZE, h.length, r) != 0)
            return -EPROTO;
        memmove(ec->side.buf + off, ec->side.buf + off + n, ec->side.len - off - n);
        ec->side.len -= n;
        if (mine)
            return 1;
    }
    return 0;
}

static int egress_transport(kumo_ctx *ctx, const kumo__http_call *call, kumo__http_result *r)
{
    egress_conn *ec = ctx->http_transport_data;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = egress_take_tail(ec)) != 0)
        goto fail;
    uint32_t id = ++ec->next_id;
    kumo__frame_reset(&ec->w);
    kumo__http_call_put(&ec->w, id, call);
    if ((rc = kumo__frame_end(&ec->w)) != 0) {
        snprintf(r->message, sizeof r->message, "the call is over the frame limit (64 MiB)");
        r->error = KUMO_ETOOBIG;
        return r->error;
    }
    if ((rc = write_full(ec->fd, ec->w.buf, ec->w.len)) != 0)
        goto fail;
    for (;;) {
        if ((rc = egress_find(ec, id, r)) != 0) {
            if (rc == 1)
                return r->error;
            goto fail;
        }
        /* The gateway answers by the deadline; this wait is only a
         * backstop (a gateway that went away, a lost frame). */
        int wait = -1;
        if (call->deadline_ms) {
            int64_t left = kumo_ctx_remaining_ms(ctx);
            wait = (int)(left > 600000 ? 600000 : left) + 2000;
        }
        struct pollfd p = {.fd = ec->fd, .events = POLLIN};
        int pr = poll(&p, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            snprintf(r->message, sizeof r->message, "no answer from the gateway before the deadline");
            r->error = KUMO_ETIMEDOUT;
            return r->error;
        }
        if (ec->side.len + INBUF_READ + 1 > ec->side.cap) {
            char *nb = realloc(ec->side.buf, ec->side.len + 2 * INBUF_READ + 1);
            if (nb == NULL) {
                rc = -ENOMEM;
                goto fail;
            }
            ec->side.buf = nb;
            ec->side.cap = ec->side.len + 2 * INBUF_READ + 1;
        }
        ssize_t n = recv(ec->fd, ec->side.buf + ec->side.len, ec->side.cap - ec->side.len - 1, MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
            n = read(ec->fd, ec->side.buf + ec->side.len, ec->side.cap - ec->side.len - 1);
        if (n == 0) {
            rc = -EPIPE;
            goto fail;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            rc = -errno;
            goto fail;
        }
        ec->side.len += (size_t)n;
    }
fail:
    snprintf(r->message, sizeof r->message, "the call could not go through the gateway: %s", strerror(-rc));
    r->error = KUMO_EUNAVAILABLE;
    return r->error;
}

/* After the invocation: what side holds goes back behind the inbuf's
 * unread bytes (it came later on the socket). */
static int egress_give_back(egress_conn *ec)
{
    inbuf *in = ec->in;
    if (ec->side.len == 0)
        return 0;
    if (in->start + in->len + ec->side.len + 1 > in->cap) {
        if (in->start > 0) {
            memmove(in->buf, in->buf + in->start, in->len);
            in->start = 0;
        }
        size_t want = in->len + ec->side.len + 1 + INBUF_READ;
        if (want > in->cap) {
            char *nb = realloc(in->buf, want);
            if (nb == NULL)
                return -ENOMEM;
            in->buf = nb;
            in->cap = want;
        }
    }
    memcpy(in->buf + in->start + in->len, ec->side.buf, ec->side.len);
    in->len += ec->side.len;
    ec->side.len = 0;
    return 0;
}

static void inbuf_consume(inbuf *in, const kumo__frame_header *h, char saved)
{
    size_t n = KUMO__FRAME_HEADER_SIZE + (size_t)h->length;
    in->buf[in->start + n] = saved;
    in->start += n;
    in->len -= n;
    if (in->len == 0)
        in->start = 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n = write(fd, (const char *)buf + put, len - put);
        if (n >= 0)
            put += (size_t)n;
        else if (errno != EINTR)
            return -errno;
    }
    return 0;
}

/* Fills req from the payload; strings are copied into the arena with a
 * NUL, except the body, which stays in the payload when it is the last
 * field (the payload buffer has a NUL after its end). */
static int decode_request(kumo_ctx *ctx, kumo_request *req, const char *payload, size_t len, const char **symbol)
{
    kumo__frame_reader r;
    kumo__frame_field f;
    size_t nparams = 0, nheaders = 0, nparts = 0;
    int rc;

    kumo__frame_reader_init(&r, payload, len);
    while ((rc = kumo__frame_next(&r, &f)) > 0) {
        if (f.tag == KF_PARAM)
            nparams++;
        else if (f.tag == KF_HEADER)
            nheaders++;
        else if (f.tag == KF_PART)
            nparts++;
    }
    if (rc < 0)
        return rc;
    kumo__pair *params = kumo__arena_alloc(&ctx->arena, (nparams + 1) * sizeof(*params));
    kumo__pair *headers = kumo__arena_alloc(&ctx->arena, (nheaders + 1) * sizeof(*headers));
    kumo__part_view *parts = kumo__arena_alloc(&ctx->arena, (nparts + 1) * sizeof(*parts));
    if (params == NULL || headers == NULL || parts == NULL)
        return -ENOMEM;

    *symbol = NULL;
    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0) {
        const char **slot = NULL;
        switch (f.tag) {
        case KF_METHOD: slot = &req->method; break;
        case KF_PATH: slot = &req->path; break;
        case KF_QUERY: slot = &req->query_string; break;
        case KF_OPERATION: slot = &ctx->operation; break;
        case KF_SYMBOL: slot = symbol; break;
        case KF_REQUEST_ID: slot = &ctx->request_id; break;
        case KF_PARAMS_JSON: slot = &req->typed_text; break;
        case KF_FORM_JSON: slot = &req->form_text; break;
        case KF_RESPONSE_TYPE: slot = &req->response_type; break;
        case KF_AUTH_SCHEME: slot = &req->auth_scheme; break;
        case KF_AUTH_SUBJECT: slot = &req->auth_subject; break;
        case KF_AUTH_CLAIMS: slot = &req->auth_claims_text; break;
        case KF_PART: {
            kumo__frame_part_view pv;
            if (kumo__frame_part(&f, &pv) != 0)
                return -EPROTO;
            kumo__part_view *p = &parts[req->nparts++];
            p->name = kumo__arena_strndup(&ctx->arena, pv.name, pv.name_len);
            p->filename = kumo__arena_strndup(&ctx->arena, pv.filename, pv.filename_len);
            p->content_type = kumo__arena_strndup(&ctx->arena, pv.ctype, pv.ctype_len);
            p->data = pv.data;
            p->len = pv.data_len;
            if (p->name == NULL || p->filename == NULL || p->content_type == NULL)
                return -ENOMEM;
            break;
        }
        case KF_DEADLINE_MS:
            if (kumo__frame_u64(&f, &ctx->deadline_ms) != 0)
                return -EPROTO;
            break;
        case KF_BODY:
            if (f.data + f.len == payload + len) {
                req->body = f.data;
            } else if ((req->body = kumo__arena_strndup(&ctx->arena, f.data, f.len)) == NULL) {
                return -ENOMEM;
            }
            req->body_len = f.len;
            break;
        case KF_PARAM:
        case KF_HEADER: {
            const char *name, *value;
            size_t nl, vl;
            if (kumo__frame_pair(&f, &name, &nl, &value, &vl) != 0)
                return -EPROTO;
            kumo__pair *p = f.tag == KF_PARAM ? &params[req->nparams++] : &headers[req->nheaders++];
            p->name = kumo__arena_strndup(&ctx->arena, name, nl);
            p->value = kumo__arena_strndup(&ctx->arena, value, vl);
            if (p->name == NULL || p->value == NULL)
                return -ENOMEM;
            break;
        }
        default: break; /* unknown tags are skipped: newer gateways may add fields */
        }
        if (slot != NULL && (*slot = kumo__arena_strndup(&ctx->arena, f.data, f.len)) == NULL)
            return -ENOMEM;
    }
    req->params = params;
    req->headers = headers;
    req->parts = parts;
    if (req->method == NULL || req->path == NULL || *symbol == NULL)
        return -EPROTO;
    kumo__trace_request(ctx, req);
    ctx->path = req->path; /* a problem document's instance */
    return 0;
}

static void encode_response(kumo__frame_writer *w, uint32_t id, int rc, const kumo_response *res)
{
    kumo__frame_begin(w, 0, KUMO__FRAME_RESPONSE, id);
    if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the handler returned %d (%s)", rc, rc < 0 ? kumo_strerror(rc) : "failure");
        kumo__frame_put_str(w, KF_ERROR, msg);
        kumo__trace_put_store_calls(res->ctx, w);
        return;
    }
    kumo__frame_put_u32(w, KF_STATUS, (uint32_t)(res->status ? res->status : 200));
    for (size_t i = 0; i < res->nheaders; i++)
        kumo__frame_put_pair(w, KF_HEADER, res->headers[i].name, strlen(res->headers[i].name), res->headers[i].value,
                             strlen(res->headers[i].value));
    if (res->body_len)
        kumo__frame_put(w, KF_BODY, res->body, res->body_len);
    kumo__trace_put_store_calls(res->ctx, w);
}

/* In-process invocation (kumo-host): the same decoding and encoding as a
 * worker's, without the socket. */
struct kumo__invoker {
    void *unit;
    const char *function;
    handler_cache hc;
    kumo_ctx ctx;
    char *copy; /* the request payload, NUL-terminated */
    size_t copy_cap;
};

kumo__invoker *kumo__invoker_new(void *unit, const char *function)
{
    kumo__invoker *iv = calloc(1, sizeof(*iv));
    if (iv == NULL)
        return NULL;
    iv->unit = unit;
    iv->function = function;
    kumo__arena_init(&iv->ctx.arena);
    return iv;
}

int kumo__invoker_call(kumo__invoker *iv, const char *payload, size_t len, kumo__frame_writer *w)
{
    if (len + 1 > iv->copy_cap) {
        char *nb = realloc(iv->copy, len + 1);
        if (nb == NULL)
            return -ENOMEM;
        iv->copy = nb;
        iv->copy_cap = len + 1;
    }
    memcpy(iv->copy, payload, len);
    iv->copy[len] = '\0';

    kumo_request req;
    kumo_response res;
    const char *symbol = NULL;
    kumo__invocation_init(&iv->ctx, &req, &res);
    iv->ctx.function = iv->function;
    size_t frame_start = w->len;
    if (decode_request(&iv->ctx, &req, iv->copy, len, &symbol) != 0) {
        kumo__frame_begin(w, 0, KUMO__FRAME_RESPONSE, 0);
        kumo__frame_put_str(w, KF_ERROR, "the host could not decode the request frame");
    } else {
        kumo_handler *fn = lookup(&iv->hc, iv->unit, symbol);
        if (fn == NULL) {
            char msg[512];
            snprintf(msg, sizeof(msg), "handler '%s' is not defined in function unit '%s'", symbol, iv->function);
            kumo__frame_begin(w, 0, KUMO__FRAME_RESPONSE, 0);
            kumo__frame_put_str(w, KF_ERROR, msg);
        } else {
            encode_response(w, 0, fn(&iv->ctx, &req, &res), &res);
        }
    }
    int rc = kumo__frame_end(w);
    if (rc != 0) {
        w->len = frame_start;
        w->err = 0;
        kumo__frame_begin(w, 0, KUMO__FRAME_RESPONSE, 0);
        kumo__frame_put_str(w, KF_ERROR, "the response is larger than the frame limit");
        rc = kumo__frame_end(w);
    }
    kumo__invocation_clear(&iv->ctx, &req, &res);
    return rc;
}

void kumo__invoker_free(kumo__invoker *iv)
{
    if (iv == NULL)
        return;
    kumo__arena_free(&iv->ctx.arena);
    cache_free(&iv->hc);
    free(iv->copy);
    free(iv);
}

/* Leaked descriptors: every LEAK_CHECK_EVERY invocations the worker looks
 * at the lowest free descriptor (one fcntl and one close); once it is
 * LEAK_LIMIT above where it was after the first invocation (when the
 * stores have opened theirs), its answers carry KF_RETIRE: the pool sends
 * it nothing more and closes its socket once its calls are answered, so no
 * request is lost to a worker that leaves on its own. */
#define LEAK_CHECK_EVERY 16
#define LEAK_LIMIT 64

static int lowest_free_fd(void)
{
    int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* A primed spare's first frame: KUMO__FRAME_ASSIGN naming its unit. The
 * unit's index, or -1. */
static int assigned_unit(const char *payload, size_t len)
{
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0)
        if (f.tag == KF_UNIT) {
            uint32_t u;
            return kumo__frame_u32(&f, &u) == 0 && u <= INT32_MAX ? (int)u : -1;
        }
    return -1;
}

/* A spare's rehearsal (kumo__local_rehearse): the parts of a first
 * request that are the SDK's, through a handler of its own. */
static int rehearsal_handler(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    json_t *out = json_object();
    json_t *in = kumo_request_json(req);
    if (out == NULL)
        return kumo_response_body(res, "", 0, "text/plain");
    json_t *id = kumo_request_typed(req, "path", "id");
    const char *accept = kumo_request_header(req, "accept"), *limit = kumo_request_query(req, "limit");
    json_object_set_new(out, "in", in ? json_deep_copy(in) : json_null());
    json_object_set_new(out, "id", id ? json_copy(id) : json_null());
    json_object_set_new(out, "accept", accept ? json_string(accept) : json_null());
    json_object_set_new(out, "limit", limit ? json_string(limit) : json_null());
    kumo_response_header(res, "cache-control", "no-store");
    return kumo_response_json(res, 200, out);
}

/* The rehearsal's answer is what rehearsal_handler makes of its request:
 * 0, or -EPROTO. */
static int rehearsal_answer_ok(const kumo__frame_writer *out)
{
    kumo__frame_header h;
    if (kumo__frame_header_decode(out->buf, out->len, 0, &h) != 0 || h.type != KUMO__FRAME_RESPONSE)
        return -EPROTO;
    kumo__frame_reader r;
    kumo__frame_field f;
    uint32_t status = 0;
    json_t *body = NULL;
    int no_store = 0;
    kumo__frame_reader_init(&r, out->buf + KUMO__FRAME_HEADER_SIZE, h.length);
    while (kumo__frame_next(&r, &f) > 0) {
        const char *name, *value;
        size_t nl, vl;
        if (f.tag == KF_STATUS)
            kumo__frame_u32(&f, &status);
        else if (f.tag == KF_BODY && body == NULL)
            body = json_loadb(f.data, f.len, 0, NULL);
        else if (f.tag == KF_HEADER && kumo__frame_pair(&f, &name, &nl, &value, &vl) == 0)
            no_store |=
                nl == 13 && memcmp(name, "cache-control", 13) == 0 && vl == 8 && memcmp(value, "no-store", 8) == 0;
    }
    const char *title = json_string_value(json_object_get(json_object_get(body, "in"), "title"));
    const char *limit = json_string_value(json_object_get(body, "limit"));
    int ok = status == 200 && no_store && json_integer_value(json_object_get(body, "id")) == 7 && title &&
             strcmp(title, "rehearsal") == 0 && limit && strcmp(limit, "10") == 0;
    json_decref(body);
    return ok ? 0 : -EPROTO;
}

int kumo__local_rehearse(void)
{
    static const char traceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    static const char params[] = "{\"path\":{\"id\":7},\"query\":{\"limit\":\"10\"},\"header\":{},\"cookie\":{}}";
    static const char body[] = "{\"title\":\"rehearsal\",\"done\":false}";
    kumo__frame_writer in = {0}, out = {0};
    int rc = -ENOMEM;
    kumo__frame_begin(&in, 0, KUMO__FRAME_REQUEST, 1);
    kumo__frame_put_str(&in, KF_METHOD, "POST");
    kumo__frame_put_str(&in, KF_PATH, "/rehearsal/7");
    kumo__frame_put_str(&in, KF_QUERY, "limit=10");
    kumo__frame_put_str(&in, KF_OPERATION, "rehearsal");
    kumo__frame_put_str(&in, KF_SYMBOL, "rehearsal");
    kumo__frame_put_str(&in, KF_REQUEST_ID, "00000000-0-00000000");
    kumo__frame_put_u64(&in, KF_DEADLINE_MS, UINT64_MAX);
    kumo__frame_put(&in, KF_PARAMS_JSON, params, sizeof(params) - 1);
    kumo__frame_put_pair(&in, KF_PARAM, "limit", 5, "10", 2);
    kumo__frame_put_pair(&in, KF_HEADER, "traceparent", 11, traceparent, sizeof(traceparent) - 1);
    kumo__frame_put_pair(&in, KF_HEADER, "accept", 6, "application/json", 16);
    kumo__frame_put_pair(&in, KF_HEADER, "content-type", 12, "application/json", 16);
    kumo__frame_put(&in, KF_BODY, body, sizeof(body) - 1);
    kumo__frame_header h;
    char *payload = NULL;
    if (kumo__frame_end(&in) == 0 && kumo__frame_header_decode(in.buf, in.len, 0, &h) == 0 &&
        (payload = malloc((size_t)h.length + 1)) != NULL) {
        /* NUL-terminated, as next_frame leaves a worker's payload */
        memcpy(payload, in.buf + KUMO__FRAME_HEADER_SIZE, h.length);
        payload[h.length] = '\0';
        kumo_ctx ctx;
        kumo_request req;
        kumo_response res;
        const char *symbol = NULL;
        memset(&ctx, 0, sizeof(ctx));
        kumo__arena_init(&ctx.arena);
        kumo__invocation_init(&ctx, &req, &res);
        ctx.function = "rehearsal";
        rc = decode_request(&ctx, &req, payload, h.length, &symbol);
        if (rc == 0 && kumo_ctx_remaining_ms(&ctx) > 0) {
            (void)kumo__local_find(NULL, symbol);
            encode_response(&out, h.id, rehearsal_handler(&ctx, &req, &res), &res);
            rc = kumo__frame_end(&out) == 0 ? rehearsal_answer_ok(&out) : -ENOMEM;
        } else if (rc == 0) {
            rc = -EPROTO;
        }
        kumo__invocation_clear(&ctx, &req, &res);
        kumo__arena_free(&ctx.arena);
    }
    free(payload);
    kumo__frame_writer_free(&in);
    kumo__frame_writer_free(&out);
    return rc;
}

static int serve(int fd, void *unit, const char *function, kumo__local_assign_fn *assign, void *assign_ctx);

int kumo__local_serve(int fd, void *unit, const char *function)
{
    return serve(fd, unit, function, NULL, NULL);
}

int kumo__local_serve_primed(int fd, kumo__local_assign_fn *assign, void *ctx)
{
    return serve(fd, NULL, NULL, assign, ctx);
}

static int serve(int fd, void *unit, const char *function, kumo__local_assign_fn *assign, void *assign_ctx)
{
    handler_cache hc = {0};
    unsigned long served = 0;
    int fd_baseline = -1, leaking = 0;
    kumo__frame_writer w = {0};
    kumo_ctx ctx;
    inbuf in = {0};
    int rc;

    egress_conn ec = {.fd = fd, .in = &in};

    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    ctx.http_transport = egress_transport;
    ctx.http_transport_data = &ec;
    for (;;) {
        kumo__frame_header h;
        char *payload = NULL, saved = 0;
        if ((rc = next_frame(fd, &in, &h, &payload, &saved)) <= 0)
            break;
        ec.cur = KUMO__FRAME_HEADER_SIZE + (size_t)h.length;
        ec.saved = &saved;
        if (assign != NULL && unit == NULL) {
            /* read with the requests behind it, in one recv */
            int u = h.type == KUMO__FRAME_ASSIGN ? assigned_unit(payload, h.length) : -1;
            if (u < 0 || (rc = assign(assign_ctx, u, &unit, &function)) != 0 || unit == NULL) {
                rc = u < 0 ? -EPROTO : rc != 0 ? rc : -ENOENT;
                break;
            }
            inbuf_consume(&in, &h, saved);
            continue;
        }
        if (h.type != KUMO__FRAME_REQUEST) {
            rc = -EPROTO;
            break;
        }
        kumo_request req;
        kumo_response res;
        const char *symbol = NULL;
        kumo__invocation_init(&ctx, &req, &res);
        ctx.function = function;
        size_t frame_start = w.len;
        rc = decode_request(&ctx, &req, payload, h.length, &symbol);
        if (rc != 0) {
            kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, h.id);
            kumo__frame_put_str(&w, KF_ERROR, "the worker could not decode the request frame");
        } else if (kumo_ctx_remaining_ms(&ctx) == 0) {
            /* It waited behind another call past its deadline: the
             * client has its 504 coming; do not run it. */
            kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, h.id);
            kumo__frame_put_str(&w, KF_ERROR, "the invocation waited for its worker past its deadline");
            kumo__frame_put(&w, KF_EXPIRED, NULL, 0);
        } else {
            kumo_handler *fn = lookup(&hc, unit, symbol);
            if (fn == NULL) {
                char msg[512];
                snprintf(msg, sizeof(msg), "handler '%s' is not defined in function unit '%s'", symbol, function);
                kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, h.id);
                kumo__frame_put_str(&w, KF_ERROR, msg);
            } else {
                int hrc = fn(&ctx, &req, &res);
                encode_response(&w, h.id, hrc, &res);
            }
        }
        if (++served == 1) {
            /* after the first answer is out (below) */
        } else if (!leaking && served % LEAK_CHECK_EVERY == 0 && fd_baseline >= 0) {
            int now = lowest_free_fd();
            if ((leaking = now < 0 || now > fd_baseline + LEAK_LIMIT))
                kumo_log(NULL, KUMO_LOG_ERROR,
                         "function '%s' leaks file descriptors (more than %d since its first invocation); this "
                         "worker asks to be stopped and a fresh one takes over",
                         function, LEAK_LIMIT);
        }
        if (leaking) /* until the gateway stops sending: it closes the socket */
            kumo__frame_put(&w, KF_RETIRE, NULL, 0);
        if (kumo__frame_end(&w) != 0) {
            w.len = frame_start;
            w.err = 0;
            kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, h.id);
            kumo__frame_put_str(&w, KF_ERROR, "the response is larger than the frame limit");
            kumo__frame_end(&w);
        }
        kumo__invocation_clear(&ctx, &req, &res);
        inbuf_consume(&in, &h, saved);
        if ((rc = egress_give_back(&ec)) != 0)
            break;
        /* Each answer is written before the next request starts, even
         * when that one is already here: should the next crash or hang,
         * the gateway has every answer before it, so it knows that the
         * requests after it never began and can give them to another
         * worker. */
        if ((rc = write_full(fd, w.buf, w.len)) != 0)
            break;
        kumo__frame_reset(&w);
        if (served == 1)
            fd_baseline = lowest_free_fd();
    }
    kumo__arena_free(&ctx.arena);
    kumo__frame_writer_free(&w);
    kumo__frame_writer_free(&ec.w);
    free(ec.side.buf);
    cache_free(&hc);
    free(in.buf);
    return rc < 0 ? rc : 0;
}
