/*
 * test_trace.c: the trace context codecs (proto/tracectx.c), samplers,
 * span records, the bounded span buffer (obs/trace.c), the OTLP JSON and
 * the tracer's configuration (obs/otlp.c).
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>

#include "check.h"
#include "obs/trace.h"

static void test_traceparent(void)
{
    kumo__trace_ctx c;
    const char *ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    CHECK_INT(kumo__traceparent_parse(ok, strlen(ok), &c), 0);
    CHECK_INT(c.trace_id[0], 0x0a);
    CHECK_INT(c.trace_id[15], 0x9c);
    CHECK_INT(c.span_id[0], 0xb7);
    CHECK_INT(c.span_id[7], 0x31);
    CHECK_INT(c.flags, 1);
    char out[56];
    kumo__traceparent_format(c.trace_id, c.span_id, c.flags, out);
    CHECK_STR(out, ok);

    static const char *bad[] = {
        "",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",   /* short */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-010", /* long */
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* version */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* version ff is invalid */
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  /* zero trace */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  /* zero parent */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  /* upper case */
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",  /* not hex */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* separator */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",  /* flags */
        "00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01",  /* shifted */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(kumo__traceparent_parse(bad[i], strlen(bad[i]), &c), -EINVAL);
    CHECK_INT(kumo__traceparent_parse(NULL, 0, &c), -EINVAL);

    CHECK(kumo__tracestate_ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39));
    CHECK(!kumo__tracestate_ok("a=b\nc=d", 7));
    CHECK(!kumo__tracestate_ok("", 0));
    char big[600];
    memset(big, 'a', sizeof(big));
    CHECK(kumo__tracestate_ok(big, 512));
    CHECK(!kumo__tracestate_ok(big, 513));
}

static void test_xray(void)
{
    kumo__trace_ctx c;
    int has_parent = -1;
    const char *h = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    CHECK_INT(kumo__xray_parse(h, strlen(h), &c, &has_parent), 0);
    char tp[56];
    kumo__traceparent_format(c.trace_id, c.span_id, c.flags, tp);
    CHECK_STR(tp, "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01");
    CHECK_INT(has_parent, 1);

    const char *h2 = "Sampled=0; Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a:1";
    CHECK_INT(kumo__xray_parse(h2, strlen(h2), &c, &has_parent), 0);
    CHECK_INT(has_parent, 0);
    CHECK_INT(c.flags, 0);
    CHECK(kumo__id_is_zero(c.span_id, 8));

    static const char *bad[] = {
        "Parent=53995c3f42cd8ad8;Sampled=1",                 /* no root */
        "Root=2-5759e988-bd862e3fe1be46a994272793",          /* version */
        "Root=1-5759e988-bd862e3fe1be46a99427279",           /* short */
        "Root=1-00000000-000000000000000000000000",          /* zero */
        "Root=1-5759e98g-bd862e3fe1be46a994272793;Sampled=1" /* hex */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(kumo__xray_parse(bad[i], strlen(bad[i]), &c, &has_parent), -EINVAL);
}

static void test_ids(void)
{
    uint8_t a[16], b[16], s[8];
    kumo__trace_new_trace_id(a);
    kumo__trace_new_trace_id(b);
    kumo__trace_new_span_id(s);
    CHECK(memcmp(a, b, 16) != 0);
    CHECK(!kumo__id_is_zero(a, 16));
    CHECK(!kumo__id_is_zero(s, 8));
}

/* A trace id whose last 8 bytes are v, big-endian. */
static void id_with_low(uint8_t id[16], uint64_t v)
{
    memset(id, 0xab, 8);
    for (int i = 0; i < 8; i++)
        id[15 - i] = (uint8_t)(v >> (8 * i));
}

static void test_samplers(void)
{
    kumo__sampler s;
    char why[300];
    uint8_t id[16];
    CHECK_INT(kumo__sampler_init(&s, "nope", 1, why, sizeof(why)), -EINVAL);
    CHECK(strstr(why, "parentbased_traceidratio") != NULL);
    CHECK_INT(kumo__sampler_init(&s, "traceidratio", 1.5, why, sizeof(why)), -EINVAL);
    CHECK_INT(kumo__sampler_init(&s, "traceidratio", -0.1, why, sizeof(why)), -EINVAL);
    CHECK_INT(kumo__sampler_init(&s, NULL, 1, why, sizeof(why)), 0);
    CHECK_INT(s.kind, KUMO__SAMPLER_PARENT_ON);

    /* traceidratio 0.25: the id's low 63 bits (of its last 8 bytes) below
     * 2^61 are sampled, at or above it not. */
    CHECK_INT(kumo__sampler_init(&s, "traceidratio", 0.25, why, sizeof(why)), 0);
    id_with_low(id, 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 1);
    id_with_low(id, ((uint64_t)1 << 62) - 2); /* >> 1: 2^61 - 1 */
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 1);
    id_with_low(id, (uint64_t)1 << 62); /* >> 1: 2^61 */
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 0);
    id_with_low(id, UINT64_MAX);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 0);
    /* not parent-based: a sampled parent does not matter */
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 1), 0);
    /* the first 8 bytes do not matter */
    id_with_low(id, 5);
    memset(id, 0xff, 8);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 1);

    /* Over many sequential ids spread across the range the share is the ratio. */
    int hits = 0;
    for (uint64_t i = 1; i <= 1000; i++) {
        id_with_low(id, i * (UINT64_MAX / 1000));
        hits += kumo__sampler_decide(&s, id, 0, 0);
    }
    CHECK_INT(hits, 250);

    CHECK_INT(kumo__sampler_init(&s, "traceidratio", 0, why, sizeof(why)), 0);
    id_with_low(id, 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 0);
    CHECK_INT(kumo__sampler_init(&s, "traceidratio", 1, why, sizeof(why)), 0);
    id_with_low(id, UINT64_MAX);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 1);

    CHECK_INT(kumo__sampler_init(&s, "always_off", 1, why, sizeof(why)), 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 1), 0);
    CHECK_INT(kumo__sampler_init(&s, "always_on", 1, why, sizeof(why)), 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 0), 1);

    CHECK_INT(kumo__sampler_init(&s, "parentbased_always_off", 1, why, sizeof(why)), 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 1), 1);
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 0), 0);
    CHECK_INT(kumo__sampler_init(&s, "parentbased_always_on", 1, why, sizeof(why)), 0);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 1);
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 0), 0);
    CHECK_INT(kumo__sampler_init(&s, "parentbased_traceidratio", 0.25, why, sizeof(why)), 0);
    id_with_low(id, UINT64_MAX);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 0); /* root: the ratio */
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 1), 1); /* the parent's choice */
    id_with_low(id, 1);
    CHECK_INT(kumo__sampler_decide(&s, id, 0, 0), 1);
    CHECK_INT(kumo__sampler_decide(&s, id, 1, 0), 0);
}

static void make_span(kumo__span *s, int n)
{
    uint8_t t[16], id[8], parent[8];
    memset(t, 0x11, 16);
    memset(id, n + 1, 8);
    memset(parent, 0x22, 8);
    kumo__span_init(s, t, id, n % 2 ? parent : NULL, KUMO__SPAN_SERVER, "GET /todos/{id}", 1000000000ull + n);
    s->end_ns = s->start_ns + 5000;
    kumo__span_str(s, "http.route", "/todos/{id}", 11);
    kumo__span_int(s, "http.response.status_code", 200 + n);
    kumo__span_bool(s, "faas.coldstart", n % 2);
}

static void test_span_limits(void)
{
    kumo__span s;
    uint8_t t[16] = {1}, id[8] = {2};
    char name[300];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    kumo__span_init(&s, t, id, NULL, KUMO__SPAN_INTERNAL, name, 1);
    CHECK_INT(strlen(s.name), KUMO__SPAN_NAME_MAX - 1);
    for (int i = 0; i < 40; i++)
        kumo__span_str(&s, "k", name, 200);
    CHECK_INT(s.nattrs, KUMO__SPAN_ATTRS_MAX);
    CHECK(s.pool_used <= KUMO__SPAN_POOL);
    kumo__span_set_status(&s, KUMO__STATUS_ERROR, name, strlen(name));
    CHECK_INT(strlen(s.status_msg), KUMO__SPAN_MSG_MAX - 1);
}

static void test_buffer(void)
{
    kumo__span_buf *b = kumo__span_buf_create(3); /* rounded up to 4 */
    CHECK_INT(kumo__span_buf_capacity(b), 4);
    kumo__span s, out;
    for (int i = 0; i < 6; i++) {
        make_span(&s, i);
        CHECK_INT(kumo__span_buf_push(b, &s), i < 4 ? 0 : -ENOSPC);
    }
    CHECK_INT(kumo__span_buf_pushed(b), 4);
    CHECK_INT(kumo__span_buf_dropped(b), 2);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(kumo__span_buf_pop(b, &out), 1);
        CHECK_INT(out.span_id[0], i + 1); /* first in, first out */
    }
    CHECK_INT(kumo__span_buf_pop(b, &out), 0);
    make_span(&s, 7);
    CHECK_INT(kumo__span_buf_push(b, &s), 0); /* room again */
    CHECK_INT(kumo__span_buf_pop(b, &out), 1);
    CHECK_INT(out.span_id[0], 8);
    /* read in place: peek gives the oldest until it is released */
    CHECK(kumo__span_buf_peek(b) == NULL);
    CHECK_INT(kumo__span_buf_waiting(b), 0);
    for (int i = 0; i < 3; i++) {
        make_span(&s, 10 + i);
        CHECK_INT(kumo__span_buf_push(b, &s), 0);
    }
    CHECK_INT(kumo__span_buf_waiting(b), 3);
    const kumo__span *in = kumo__span_buf_peek(b);
    CHECK(in != NULL && in->span_id[0] == 11);
    CHECK(kumo__span_buf_peek(b) == in); /* not taken until released */
    kumo__span_buf_release(b);
    CHECK_INT(kumo__span_buf_waiting(b), 2);
    CHECK(kumo__span_buf_peek(b)->span_id[0] == 12);
    kumo__span_buf_release(b);
    make_span(&s, 20);
    CHECK_INT(kumo__span_buf_push(b, &s), 0);
    make_span(&s, 21);
    CHECK_INT(kumo__span_buf_push(b, &s), 0);
    make_span(&s, 22);
    CHECK_INT(kumo__span_buf_push(b, &s), 0); /* the released cells take new spans */
    CHECK_INT(kumo__span_buf_push(b, &s), -ENOSPC);
    for (int want = 13; want <= 23; want += want == 13 ? 8 : 1) {
        CHECK(kumo__span_buf_peek(b) && kumo__span_buf_peek(b)->span_id[0] == want);
        kumo__span_buf_release(b);
    }
    CHECK(kumo__span_buf_peek(b) == NULL);
    kumo__span_buf_free(b);
}

/* The message made span by span (what the exporter sends) is the same
 * bytes as the one made from an array, and the encoder is reused after a
 * reset without carrying the spans before. */
static void test_otlp_pb_stream(void)
{
    kumo__span s[3];
    for (int i = 0; i < 3; i++)
        make_span(&s[i], i);
    kumo__span_str(&s[1], "http.route", "/todos/{id}", 11);
    size_t len = 0, start = 0;
    char *whole = kumo__otlp_proto(s, 3, "todo", &len, &start);
    CHECK(whole != NULL);
    kumo__otlp_pb e;
    CHECK_INT(kumo__otlp_pb_begin(&e, "todo"), 0);
    kumo__otlp_pb_add(&e, &s[2]);
    size_t one = 0;
    CHECK(kumo__otlp_pb_finish(&e, &one) != NULL && one > 0 && one < len);
    kumo__otlp_pb_reset(&e);
    CHECK_INT(kumo__otlp_pb_size(&e), 0);
    for (int i = 0; i < 3; i++)
        kumo__otlp_pb_add(&e, &s[i]);
    size_t n = 0;
    const char *body = kumo__otlp_pb_finish(&e, &n);
    CHECK_INT(n, len);
    CHECK(body && whole && memcmp(body, whole + start, len) == 0);
    CHECK_INT(e.n, 3);
    kumo__otlp_pb_free(&e);
    free(whole);
}

/* Four producers push 20000 spans each into a buffer of 1024 while one
 * consumer pops: every span is either popped exactly once or counted as
 * dropped. */
#define PRODUCERS 4
#define PER_PRODUCER 20000
static kumo__span_buf *shared;
static _Atomic int producers_done;

static void *producer(void *arg)
{
    kumo__span s;
    int who = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        make_span(&s, 0);
        s.span_id[0] = (uint8_t)who;
        s.start_ns = (uint64_t)i;
        kumo__span_buf_push(shared, &s);
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static void test_buffer_threads(void)
{
    shared = kumo__span_buf_create(1024);
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i);
    uint64_t popped = 0, last[PRODUCERS];
    int order_ok = 1;
    memset(last, 0xff, sizeof(last));
    kumo__span out;
    for (;;) {
        int done = atomic_load(&producers_done) == PRODUCERS;
        int got = kumo__span_buf_pop(shared, &out);
        if (got) {
            popped++;
            int who = out.span_id[0];
            if (who >= PRODUCERS || (last[who] != UINT64_MAX && out.start_ns <= last[who]))
                order_ok = 0;
            else
                last[who] = out.start_ns;
        } else if (done) {
            break;
        }
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    CHECK(order_ok);
    CHECK_INT(popped + kumo__span_buf_dropped(shared), (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK_INT(popped, kumo__span_buf_pushed(shared));
    kumo__span_buf_free(shared);
}

static const char *attr_of(json_t *span, const char *key, const char *kind)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_string_value(json_object_get(json_object_get(a, "value"), kind));
    }
    return NULL;
}

/* ---- a small protobuf reader, to check kumo__otlp_proto's framing ---- */

typedef struct pb_field {
    unsigned num, wt;
    uint64_t v;       /* varint, fixed64, fixed32 */
    const uint8_t *b; /* length-delimited */
    size_t n;
} pb_field;

static int pb_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int k = 0; k < 10 && *i < len; k++) {
        uint8_t c = p[(*i)++];
        *v |= (uint64_t)(c & 0x7f) << (7 * k);
        if (c < 0x80)
            return 0;
    }
    return -1;
}

/* The fields of message p[0..len): their count, or -1 when it does not
 * parse to its exact end. */
static int pb_fields(const uint8_t *p, size_t len, pb_field *out, int max)
{
    size_t i = 0;
    int n = 0;
    while (i < len) {
        uint64_t tag;
        pb_field f = {0};
        if (pb_varint(p, len, &i, &tag) != 0 || (tag >> 3) == 0)
            return -1;
        f.num = (unsigned)(tag >> 3), f.wt = (unsigned)(tag & 7);
        if (f.wt == 0) {
            if (pb_varint(p, len, &i, &f.v) != 0)
                return -1;
        } else if (f.wt == 1 || f.wt == 5) {
            size_t w = f.wt == 1 ? 8 : 4;
            if (i + w > len)
                return -1;
            for (size_t k = 0; k < w; k++)
                f.v |= (uint64_t)p[i + k] << (8 * k);
            i += w;
        } else if (f.wt == 2) {
            uint64_t m;
            if (pb_varint(p, len, &i, &m) != 0 || m > len - i)
                return -1;
            f.b = p + i, f.n = (size_t)m;
            i += (size_t)m;
        } else {
            return -1;
        }
        if (n < max)
            out[n] = f;
        n++;
    }
    return n;
}

static const pb_field *pb_get(const pb_field *f, int n, unsigned num, int nth)
{
    for (int i = 0; i < n; i++)
        if (f[i].num == num && nth-- == 0)
            return &f[i];
    return NULL;
}

static void test_otlp_proto(void)
{
    kumo__span s[3];
    make_span(&s[0], 0);
    make_span(&s[1], 1);
    make_span(&s[2], 2);
    kumo__span_str(&s[1], "bad", "a\xff\xc3\xa9", 4);
    kumo__span_int(&s[1], "neg", -42);
    kumo__span_set_status(&s[1], KUMO__STATUS_ERROR, "boom", 4);
    uint8_t lt[16], ls[8];
    memset(lt, 0x33, 16);
    memset(ls, 0x44, 8);
    kumo__span_link(&s[2], lt, ls, 1);
    size_t len = 0, start = 0;
    uint8_t *mem = (uint8_t *)kumo__otlp_proto(s, 3, "todo", &len, &start);
    CHECK(mem != NULL && len > 0);
    if (mem == NULL)
        return;
    uint8_t *doc = mem + start;
    pb_field top[4], rs[8], ss[8], sp[32], f2[8], f3[8];
    int ntop = pb_fields(doc, len, top, 4);
    CHECK_INT(ntop, 1);
    CHECK(top[0].num == 1 && top[0].wt == 2);
    int nrs = pb_fields(top[0].b, top[0].n, rs, 8);
    CHECK_INT(nrs, 2); /* resource, one scope_spans */
    const pb_field *res = pb_get(rs, nrs, 1, 0), *scope_spans = pb_get(rs, nrs, 2, 0);
    CHECK(res && scope_spans);
    if (!res || !scope_spans)
        goto out;
    /* Resource.attributes[0]: KeyValue{key "service.name", value{string "todo"}} */
    int nres = pb_fields(res->b, res->n, f2, 8);
    CHECK_INT(nres, 4);
    int nkv = pb_fields(f2[0].b, f2[0].n, f3, 8);
    CHECK_INT(nkv, 2);
    CHECK(f3[0].n == 12 && memcmp(f3[0].b, "service.name", 12) == 0);
    pb_field any[2];
    CHECK_INT(pb_fields(f3[1].b, f3[1].n, any, 2), 1);
    CHECK(any[0].num == 1 && any[0].n == 4 && memcmp(any[0].b, "todo", 4) == 0);
    int nss = pb_fields(scope_spans->b, scope_spans->n, ss, 8);
    CHECK_INT(nss, 4); /* scope, three spans */
    for (int k = 0; k < 3; k++) {
        const pb_field *one = pb_get(ss, nss, 2, k);
        CHECK(one != NULL);
        if (one == NULL)
            continue;
        int nsp = pb_fields(one->b, one->n, sp, 32);
        CHECK(nsp > 0);
        const pb_field *tid = pb_get(sp, nsp, 1, 0), *sid = pb_get(sp, nsp, 2, 0);
        CHECK(tid && tid->n == 16 && memcmp(tid->b, s[k].trace_id, 16) == 0);
        CHECK(sid && sid->n == 8 && memcmp(sid->b, s[k].span_id, 8) == 0);
        CHECK((pb_get(sp, nsp, 4, 0) != NULL) == (k == 1)); /* parent only on the child */
        const pb_field *start = pb_get(sp, nsp, 7, 0), *end = pb_get(sp, nsp, 8, 0);
        CHECK(start && start->wt == 1 && start->v == 1000000000ull + (uint64_t)k);
        CHECK(end && end->wt == 1 && end->v == 1000005000ull + (uint64_t)k);
        const pb_field *kind = pb_get(sp, nsp, 6, 0);
        CHECK(kind && kind->wt == 0 && kind->v == KUMO__SPAN_SERVER);
        const pb_field *name = pb_get(sp, nsp, 5, 0);
        CHECK(name && name->n == 15 && memcmp(name->b, "GET /todos/{id}", 15) == 0);
        int nattr = 0;
        while (pb_get(sp, nsp, 9, nattr))
            nattr++;
        CHECK_INT(nattr, s[k].nattrs);
    }
    /* the second span: the invalid byte replaced, -42 as a ten-byte varint, status ERROR "boom" */
    const pb_field *second = pb_get(ss, nss, 2, 1);
    int nsp = second ? pb_fields(second->b, second->n, sp, 32) : 0;
    const pb_field *bad = pb_get(sp, nsp, 9, 3), *neg = pb_get(sp, nsp, 9, 4), *st = pb_get(sp, nsp, 15, 0);
    CHECK(bad && neg && st);
    if (bad && neg && st) {
        pb_fields(bad->b, bad->n, f3, 8);
        pb_fields(f3[1].b, f3[1].n, any, 2);
        CHECK(any[0].n == 6 && memcmp(any[0].b, "a\xef\xbf\xbd\xc3\xa9", 6) == 0);
        pb_fields(neg->b, neg->n, f3, 8);
        pb_fields(f3[1].b, f3[1].n, any, 2);
        CHECK(any[0].num == 3 && any[0].wt == 0 && (int64_t)any[0].v == -42);
        int nst = pb_fields(st->b, st->n, f3, 8);
        CHECK_INT(nst, 2);
        CHECK(f3[0].num == 2 && f3[0].n == 4 && memcmp(f3[0].b, "boom", 4) == 0);
        CHECK(f3[1].num == 3 && f3[1].v == KUMO__STATUS_ERROR);
    }
    /* the third span's link: ids, and the flags with "remote" known and set */
    const pb_field *third = pb_get(ss, nss, 2, 2);
    nsp = third ? pb_fields(third->b, third->n, sp, 32) : 0;
    const pb_field *lk = pb_get(sp, nsp, 13, 0);
    CHECK(lk != NULL);
    if (lk) {
        int nl = pb_fields(lk->b, lk->n, f3, 8);
        CHECK_INT(nl, 3);
        CHECK(f3[0].n == 16 && memcmp(f3[0].b, lt, 16) == 0);
        CHECK(f3[1].n == 8 && memcmp(f3[1].b, ls, 8) == 0);
        CHECK(f3[2].num == 6 && f3[2].wt == 5 && f3[2].v == (1u | 0x100u | 0x200u));
    }
out:
    free(mem);

    /* the worst case for the room reserved: full spans of invalid bytes
     * (each becomes three), in a batch that grows the buffer many times */
    size_t nbig = 300;
    kumo__span *big = calloc(nbig, sizeof(*big));
    char junk[KUMO__SPAN_POOL];
    memset(junk, '\xff', sizeof(junk));
    for (size_t i = 0; i < nbig; i++) {
        make_span(&big[i], (int)(i & 1));
        memset(big[i].name, '\xfe', sizeof(big[i].name) - 1);
        big[i].name[sizeof(big[i].name) - 1] = '\0';
        kumo__span_set_status(&big[i], KUMO__STATUS_ERROR, junk, sizeof(junk));
        for (int a = 0; a < KUMO__SPAN_ATTRS_MAX; a++)
            kumo__span_str(&big[i], "k", junk, sizeof(junk) / KUMO__SPAN_ATTRS_MAX);
    }
    mem = (uint8_t *)kumo__otlp_proto(big, nbig, "todo", &len, &start);
    CHECK(mem != NULL);
    doc = mem ? mem + start : NULL;
    if (doc) {
        CHECK_INT(pb_fields(doc, len, top, 4), 1);
        CHECK_INT(pb_fields(top[0].b, top[0].n, rs, 8), 2);
        const pb_field *sp2 = pb_get(rs, 2, 2, 0);
        CHECK(sp2 && pb_fields(sp2->b, sp2->n, ss, 8) == (int)nbig + 1);
    }
    free(mem);
    free(big);
}

static void test_otlp_json(void)
{
    kumo__span s[2];
    make_span(&s[0], 0);
    make_span(&s[1], 1);
    kumo__span_str(&s[1], "bad", "a\"b\\\n\xff\xc3\xa9", 8);
    kumo__span_int(&s[1], "neg", -42);
    kumo__span_int(&s[1], "min", INT64_MIN);
    kumo__span_set_status(&s[1], KUMO__STATUS_ERROR, "boom", 4);
    size_t len;
    char *doc = kumo__otlp_json(s, 2, "todo", &len);
    CHECK(doc != NULL);
    CHECK_INT(strlen(doc), len);
    json_error_t e;
    json_t *j = json_loads(doc, 0, &e);
    CHECK(j != NULL);
    if (j == NULL) {
        fprintf(stderr, "%s\n%s\n", e.text, doc);
        free(doc);
        return;
    }
    json_t *rs = json_array_get(json_object_get(j, "resourceSpans"), 0);
    json_t *res = json_object_get(rs, "resource");
    CHECK_STR(attr_of(res, "service.name", "stringValue"), "todo");
    CHECK_STR(attr_of(res, "telemetry.sdk.name", "stringValue"), "kumo");
    json_t *spans = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
    CHECK_INT(json_array_size(spans), 2);
    json_t *a = json_array_get(spans, 0), *b = json_array_get(spans, 1);
    CHECK_STR(json_string_value(json_object_get(a, "traceId")), "11111111111111111111111111111111");
    CHECK_STR(json_string_value(json_object_get(a, "spanId")), "0101010101010101");
    CHECK(json_object_get(a, "parentSpanId") == NULL); /* a root */
    CHECK_STR(json_string_value(json_object_get(b, "parentSpanId")), "2222222222222222");
    CHECK_INT(json_integer_value(json_object_get(a, "kind")), 2);
    CHECK_STR(json_string_value(json_object_get(a, "startTimeUnixNano")), "1000000000");
    CHECK_STR(json_string_value(json_object_get(a, "endTimeUnixNano")), "1000005000");
    CHECK_STR(json_string_value(json_object_get(a, "name")), "GET /todos/{id}");
    CHECK_STR(attr_of(a, "http.route", "stringValue"), "/todos/{id}");
    CHECK_STR(attr_of(b, "http.response.status_code", "intValue"), "201");
    CHECK_STR(attr_of(b, "neg", "intValue"), "-42");
    CHECK_STR(attr_of(b, "min", "intValue"), "-9223372036854775808");
    CHECK(attr_of(a, "faas.coldstart", "boolValue") == NULL); /* a bool, not a string */
    json_t *cold = NULL;
    size_t k;
    json_t *at;
    json_array_foreach(json_object_get(b, "attributes"), k, at)
    {
        if (strcmp(json_string_value(json_object_get(at, "key")), "faas.coldstart") == 0)
            cold = json_object_get(json_object_get(at, "value"), "boolValue");
    }
    CHECK(cold != NULL && json_is_true(cold));
    CHECK_STR(attr_of(b, "bad", "stringValue"), "a\"b\\\n\xef\xbf\xbd\xc3\xa9");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(b, "status"), "code")), 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(b, "status"), "message")), "boom");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(a, "status"), "code")), 0);
    json_decref(j);
    free(doc);

    /* the worst case for the room reserved per span: every byte of a full
     * pool, name and message escaped as \u00XX, in a batch that grows the
     * buffer many times (ASan checks every write stays inside it) */
    size_t nbig = 300;
    kumo__span *big = calloc(nbig, sizeof(*big));
    char ctl[KUMO__SPAN_POOL];
    memset(ctl, '\x01', sizeof(ctl));
    for (size_t i = 0; i < nbig; i++) {
        make_span(&big[i], (int)(i & 1));
        memset(big[i].name, '\x02', sizeof(big[i].name) - 1);
        big[i].name[sizeof(big[i].name) - 1] = '\0';
        kumo__span_set_status(&big[i], KUMO__STATUS_ERROR, ctl, sizeof(ctl));
        for (int a = 0; a < KUMO__SPAN_ATTRS_MAX; a++)
            kumo__span_str(&big[i], "k", ctl, sizeof(ctl) / KUMO__SPAN_ATTRS_MAX);
    }
    doc = kumo__otlp_json(big, nbig, "todo", &len);
    CHECK(doc != NULL);
    j = doc ? json_loads(doc, 0, &e) : NULL;
    CHECK(j != NULL);
    spans = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(j, "resourceSpans"), 0), "scopeSpans"), 0),
        "spans");
    CHECK_INT(json_array_size(spans), nbig);
    json_decref(j);
    free(doc);
    free(big);
}

static void test_config(void)
{
    kumo__tracer *t = NULL;
    kumo__error err = {0};
    kumo__trace_config cfg = {.endpoint = "http://127.0.0.1:1/", .ratio = -1, .service_name = "proj"};

    /* No endpoint: nothing recorded, the sampler still decides. */
    char *none[] = {NULL};
    CHECK_INT(kumo__tracer_create(NULL, none, &t, &err), 0);
    CHECK(!kumo__tracer_recording(t));
    CHECK_STR(kumo__tracer_endpoint(t), "");
    CHECK_INT(kumo__tracer_sampler(t)->kind, KUMO__SAMPLER_PARENT_ON);
    kumo__tracer_free(t);

    CHECK_INT(kumo__tracer_create(&cfg, none, &t, &err), 0);
    CHECK(kumo__tracer_recording(t));
    CHECK_STR(kumo__tracer_endpoint(t), "http://127.0.0.1:1/v1/traces");
    CHECK_STR(kumo__tracer_service(t), "proj");
    kumo__tracer_free(t);

    char *env1[] = {"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
                    "OTEL_SERVICE_NAME=svc",
                    "OTEL_TRACES_SAMPLER=traceidratio",
                    "OTEL_TRACES_SAMPLER_ARG=0.5",
                    "OTEL_EXPORTER_OTLP_HEADERS=api-key=a%20b,x-tenant=t1",
                    NULL};
    CHECK_INT(kumo__tracer_create(&cfg, env1, &t, &err), 0);
    CHECK_STR(kumo__tracer_endpoint(t), "http://collector:4318/v1/traces");
    CHECK_STR(kumo__tracer_service(t), "svc");
    CHECK_INT(kumo__tracer_sampler(t)->kind, KUMO__SAMPLER_RATIO);
    CHECK(kumo__tracer_sampler(t)->ratio == 0.5);
    kumo__tracer_free(t);

    char *env2[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://x/custom", "OTEL_EXPORTER_OTLP_ENDPOINT=http://y",
                    NULL};
    CHECK_INT(kumo__tracer_create(&cfg, env2, &t, &err), 0);
    CHECK_STR(kumo__tracer_endpoint(t), "https://x/custom");
    kumo__tracer_free(t);

    char *env3[] = {"OTEL_SDK_DISABLED=true", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, env3, &t, &err), 0);
    CHECK(!kumo__tracer_recording(t));
    kumo__tracer_free(t);

    /* refused, never ignored */
    char *bad_proto[] = {"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_proto, &t, &err), -EINVAL);
    CHECK(t == NULL);
    CHECK(strstr(err.msg, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc") != NULL);
    char *bad_proto2[] = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/thrift", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_proto2, &t, &err), -EINVAL);
    kumo__trace_config yaml_grpc = cfg;
    yaml_grpc.protocol = "grpc";
    CHECK_INT(kumo__tracer_create(&yaml_grpc, NULL, &t, &err), -EINVAL);
    CHECK(strstr(err.msg, "observability.traces.protocol=grpc") != NULL);
    char *bad_sampler[] = {"OTEL_TRACES_SAMPLER=sometimes", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_sampler, &t, &err), -EINVAL);
    CHECK(strstr(err.msg, "OTEL_TRACES_SAMPLER") != NULL);
    char *bad_arg[] = {"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=half", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_arg, &t, &err), -EINVAL);
    char *bad_arg2[] = {"OTEL_TRACES_SAMPLER_ARG=2", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_arg2, &t, &err), -EINVAL);
    CHECK(strstr(err.msg, "OTEL_TRACES_SAMPLER_ARG") != NULL);
    char *bad_url[] = {"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_url, &t, &err), -EINVAL);
    char *bad_hdr[] = {"OTEL_EXPORTER_OTLP_HEADERS=novalue", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_hdr, &t, &err), -EINVAL);
    char *bad_hdr2[] = {"OTEL_EXPORTER_OTLP_HEADERS=a%0Db=c", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, bad_hdr2, &t, &err), -EINVAL);
    kumo__trace_config bad_ratio = cfg;
    bad_ratio.ratio = 3;
    CHECK_INT(kumo__tracer_create(&bad_ratio, none, &t, &err), -EINVAL);
    CHECK(strstr(err.msg, "observability.traces.ratio") != NULL);
}

/* An exporter whose collector is a closed port: submit never blocks, the
 * failed export is counted as dropped, and freeing returns. */
static void test_exporter_down(void)
{
    kumo__tracer *t = NULL;
    kumo__error err = {0};
    kumo__trace_config cfg = {.endpoint = "http://127.0.0.1:9", .ratio = -1, .buffer = 4};
    char *none[] = {NULL};
    CHECK_INT(kumo__tracer_create(&cfg, none, &t, &err), 0);
    kumo__span s;
    for (int i = 0; i < 10; i++) {
        make_span(&s, i);
        kumo__tracer_submit(t, &s);
    }
    kumo__tracer_free(t); /* the last export is tried, and fails */
    /* the tracer is gone: its counts were checked through a second one */
    CHECK_INT(kumo__tracer_create(&cfg, none, &t, &err), 0);
    for (int i = 0; i < 10; i++) {
        make_span(&s, i);
        kumo__tracer_submit(t, &s);
    }
    /* at most 4 held, the rest dropped at once; the exporter may have taken some */
    CHECK(kumo__tracer_dropped(t) >= 6 - 4);
    for (int i = 0; i < 300 && kumo__tracer_dropped(t) < 10; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK_INT(kumo__tracer_dropped(t), 10);
    CHECK_INT(kumo__tracer_exported(t), 0);
    kumo__tracer_free(t);
}

static void test_store_span_codec(void)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, 1);
    kumo__store_span in = {.kind = "kv",
                           .kind_len = 2,
                           .op = "get",
                           .op_len = 3,
                           .store = "todos",
                           .store_len = 5,
                           .driver = "sqlite",
                           .driver_len = 6,
                           .start_ns = 123456789012345ull,
                           .duration_ns = 777,
                           .result = -3};
    kumo__store_span_put(&w, &in);
    CHECK_INT(kumo__frame_end(&w), 0);
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, w.buf + KUMO__FRAME_HEADER_SIZE, w.len - KUMO__FRAME_HEADER_SIZE);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    kumo__store_span out;
    CHECK_INT(kumo__store_span_read(&f, &out), 0);
    CHECK_INT(out.start_ns, 123456789012345ull);
    CHECK_INT(out.duration_ns, 777);
    CHECK_INT(out.result, -3);
    CHECK(out.op_len == 3 && memcmp(out.op, "get", 3) == 0);
    CHECK(out.driver_len == 6 && memcmp(out.driver, "sqlite", 6) == 0);
    /* every truncation is refused */
    for (uint32_t n = 0; n < f.len; n++) {
        kumo__frame_field cut = f;
        cut.len = n;
        CHECK_INT(kumo__store_span_read(&cut, &out), -EPROTO);
    }
    CHECK(!out.has_span_id);
    kumo__frame_writer_free(&w);

    /* a send's span carries the id the SDK chose; cut by those 8 bytes it
     * reads as a span without one, any other cut is refused */
    kumo__frame_writer w2 = {0};
    kumo__frame_begin(&w2, 0, KUMO__FRAME_RESPONSE, 2);
    in.has_span_id = 1;
    memcpy(in.span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    kumo__store_span_put(&w2, &in);
    CHECK_INT(kumo__frame_end(&w2), 0);
    kumo__frame_reader_init(&r, w2.buf + KUMO__FRAME_HEADER_SIZE, w2.len - KUMO__FRAME_HEADER_SIZE);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__store_span_read(&f, &out), 0);
    CHECK(out.has_span_id && memcmp(out.span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
    for (uint32_t n = 0; n < f.len; n++) {
        kumo__frame_field cut = f;
        cut.len = n;
        int rc = kumo__store_span_read(&cut, &out);
        if (n == f.len - 8) {
            CHECK_INT(rc, 0);
            CHECK(!out.has_span_id);
        } else {
            CHECK_INT(rc, -EPROTO);
        }
    }
    kumo__frame_writer_free(&w2);
}

static void test_span_ctx(void)
{
    kumo__span_ctx sc;
    const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    kumo__span_ctx_begin(&sc, NULL, tp, strlen(tp), "a=1", 3);
    char hex[40];
    kumo__hex_encode(sc.trace_id, 16, hex);
    CHECK_STR(hex, "0af7651916cd43dd8448eb211c80319c");
    kumo__hex_encode(sc.parent_id, 8, hex);
    CHECK_STR(hex, "b7ad6b7169203331");
    CHECK(memcmp(sc.span_id, sc.invoke_id, 8) != 0);
    CHECK_INT(sc.flags, 1);
    CHECK_INT(sc.recording, 0); /* no tracer: nothing is exported */
    char want[56];
    kumo__traceparent_format(sc.trace_id, sc.invoke_id, 1, want);
    CHECK_STR(sc.traceparent, want); /* the handler's parent is the invoke span */
    CHECK_STR(sc.tracestate, "a=1");

    /* unsampled caller: passed on unsampled */
    const char *off = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    kumo__span_ctx_begin(&sc, NULL, off, strlen(off), NULL, 0);
    CHECK_INT(sc.flags, 0);
    CHECK(strcmp(sc.traceparent + 53, "00") == 0);

    /* a refused one: a new trace, the root, no tracestate kept */
    kumo__span_ctx_begin(&sc, NULL, "00-zz", 5, "a=1", 3);
    CHECK(kumo__id_is_zero(sc.parent_id, 8));
    kumo__hex_encode(sc.trace_id, 16, hex);
    CHECK(strcmp(hex, "0af7651916cd43dd8448eb211c80319c") != 0);
    CHECK_STR(sc.tracestate, "");
    CHECK_INT(sc.flags, 1);

    /* a tracer's sampler decides; with an endpoint it records */
    kumo__tracer *t = NULL;
    kumo__error err = {0};
    kumo__trace_config cfg = {.endpoint = "http://127.0.0.1:9", .ratio = -1};
    char *env[] = {"OTEL_TRACES_SAMPLER=parentbased_always_off", NULL};
    CHECK_INT(kumo__tracer_create(&cfg, env, &t, &err), 0);
    kumo__span_ctx_begin(&sc, t, NULL, 0, NULL, 0);
    CHECK_INT(sc.flags, 0); /* a root under parentbased_always_off */
    CHECK_INT(sc.recording, 0);
    kumo__span_ctx_begin(&sc, t, tp, strlen(tp), NULL, 0);
    CHECK_INT(sc.flags, 1); /* the sampled caller's choice */
    CHECK_INT(sc.recording, 1);
    kumo__tracer_free(t);
}

int main(void)
{
    test_otlp_pb_stream();
    test_traceparent();
    test_xray();
    test_ids();
    test_samplers();
    test_span_limits();
    test_buffer();
    test_buffer_threads();
    test_otlp_json();
    test_otlp_proto();
    test_config();
    test_exporter_down();
    test_store_span_codec();
    test_span_ctx();
    return check_report();
}
