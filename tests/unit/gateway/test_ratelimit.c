/*
 * test_ratelimit.c: the token buckets of gateway/ratelimit.c with the
 * clock given by the test (no sleeping): a bucket's size and refill, the
 * header values, buckets per caller and shared, "*" and an operation's
 * own rule, long keys, and the table's ceiling (full buckets dropped, new
 * callers sharing one bucket while every tracked one is still limited).
 */
#include "gateway/ratelimit.c"

#include "check.h"

#define SEC 1000000ull

static kumo__operation ops[2] = {{.operation_id = "listPets"}, {.operation_id = "getPet"}};
static kumo__spec spec = {.ops = ops, .nops = 2};

static kumo__ratelimit *limiter(kumo__rate_rule *rules, size_t n)
{
    kumo__edge_config c = {.rules = rules, .nrules = n};
    kumo__ratelimit *rl = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__ratelimit_new(&c, &spec, &rl, &err), 0);
    CHECK(rl != NULL);
    return rl;
}

static int take(kumo__ratelimit *rl, size_t op, const char *key, uint64_t now, kumo__ratelimit_verdict *v)
{
    kumo__ratelimit_take(rl, op, key, now, v);
    return !v->refused;
}

static void test_bucket(void)
{
    kumo__rate_rule r[] = {{.operation = "listPets", .requests = 3, .per_s = 3600, .burst = 3, .per_client = 1}};
    kumo__ratelimit *rl = limiter(r, 1);
    kumo__ratelimit_verdict v;
    uint64_t t = 10 * SEC;
    for (int i = 2; i >= 0; i--) {
        CHECK(take(rl, 0, "10.0.0.1", t, &v));
        CHECK_INT(atoi(v.remaining), i);
        CHECK_STR(v.limit, "3");
        CHECK_STR(v.policy, "3;w=3600");
    }
    CHECK_STR(v.reset, "3600");
    CHECK(!take(rl, 0, "10.0.0.1", t, &v));
    CHECK(v.applied && v.refused);
    CHECK_STR(v.retry_after, "1200");
    CHECK_STR(v.remaining, "0");
    CHECK_STR(v.rule, "3 requests per 3600 s for each caller");
    /* one token 20 minutes later, and only one */
    CHECK(!take(rl, 0, "10.0.0.1", t + 1199 * SEC, &v));
    CHECK_STR(v.retry_after, "1");
    CHECK(take(rl, 0, "10.0.0.1", t + 1200 * SEC, &v));
    CHECK(!take(rl, 0, "10.0.0.1", t + 1200 * SEC, &v));
    /* another caller, and an operation without a rule */
    CHECK(take(rl, 0, "10.0.0.2", t, &v));
    CHECK_STR(v.remaining, "2");
    kumo__ratelimit_take(rl, 1, "10.0.0.1", t, &v);
    CHECK(!v.applied && !v.refused);
    const char *names[4] = {0}, *values[4] = {0};
    CHECK_INT(kumo__ratelimit_headers(&v, names, values), 0);
    kumo__ratelimit_free(rl);
}

static void test_burst_and_refill(void)
{
    kumo__rate_rule r[] = {{.operation = "*", .requests = 1, .per_s = 1, .burst = 5, .per_client = 1}};
    kumo__ratelimit *rl = limiter(r, 1);
    kumo__ratelimit_verdict v;
    for (int i = 0; i < 5; i++)
        CHECK(take(rl, 1, "k", SEC, &v));
    CHECK(!take(rl, 1, "k", SEC, &v));
    CHECK_STR(v.rule, "1 requests per 1 s, at most 5 at once for each caller");
    CHECK(take(rl, 1, "k", SEC + 2500000, &v)); /* 2.5 tokens */
    CHECK(take(rl, 1, "k", SEC + 2500000, &v));
    CHECK(!take(rl, 1, "k", SEC + 2500000, &v));
    /* never more than the burst after a long pause */
    for (int i = 0; i < 5; i++)
        CHECK(take(rl, 1, "k", 1000 * SEC, &v));
    CHECK(!take(rl, 1, "k", 1000 * SEC, &v));
    /* "*": each operation has buckets of its own */
    CHECK(take(rl, 0, "k", 1000 * SEC, &v));
    const char *names[4] = {0}, *values[4] = {0};
    CHECK_INT(kumo__ratelimit_headers(&v, names, values), 4);
    CHECK_STR(names[0], "ratelimit-limit");
    CHECK_STR(values[0], "5");
    kumo__ratelimit_free(rl);
}

static void test_shared_and_own_rule(void)
{
    kumo__rate_rule r[] = {{.operation = "*", .requests = 100, .per_s = 1, .burst = 100, .per_client = 1},
                           {.operation = "getPet", .requests = 2, .per_s = 60, .burst = 2, .per_client = 0}};
    kumo__ratelimit *rl = limiter(r, 2);
    kumo__ratelimit_verdict v;
    CHECK(take(rl, 1, "a", SEC, &v));
    CHECK(take(rl, 1, "b", SEC, &v));
    CHECK(!take(rl, 1, "c", SEC, &v)); /* by: operation: one bucket for a, b and c */
    CHECK_STR(v.rule, "2 requests per 60 s for all callers together");
    CHECK_STR(v.limit, "2");
    CHECK(take(rl, 0, "c", SEC, &v)); /* listPets falls under "*" */
    CHECK_STR(v.limit, "100");
    kumo__ratelimit_free(rl);
    /* no rules: no limiter */
    kumo__edge_config none = {0};
    kumo__ratelimit *nl = (kumo__ratelimit *)1;
    kumo__error err = {0};
    CHECK_INT(kumo__ratelimit_new(&none, &spec, &nl, &err), 0);
    CHECK(nl == NULL);
    kumo__ratelimit_take(NULL, 0, "x", SEC, &v);
    CHECK(!v.applied);
}

static void test_long_keys(void)
{
    kumo__rate_rule r[] = {{.operation = "*", .requests = 1, .per_s = 3600, .burst = 1, .per_client = 1}};
    kumo__ratelimit *rl = limiter(r, 1);
    kumo__ratelimit_verdict v;
    char a[600], b[600];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(a));
    b[sizeof(b) - 2] = 'y'; /* differs past the kept prefix */
    CHECK(take(rl, 0, a, SEC, &v));
    CHECK(!take(rl, 0, a, SEC, &v));
    CHECK(take(rl, 0, b, SEC, &v));
    kumo__ratelimit_free(rl);
}

static void test_ceiling(void)
{
    kumo__rate_rule r[] = {{.operation = "*", .requests = 1, .per_s = 60, .burst = 1, .per_client = 1}};
    kumo__ratelimit *rl = limiter(r, 1);
    kumo__ratelimit_verdict v;
    char key[32];
    int ok = 1;
    for (int i = 0; i < KUMO__RATELIMIT_MAX_KEYS; i++) {
        snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        ok &= take(rl, 0, key, SEC, &v);
    }
    CHECK(ok);
    CHECK_INT(rl->used, KUMO__RATELIMIT_MAX_KEYS);
    /* every tracked caller is still limited: newcomers share one bucket */
    CHECK(take(rl, 0, "new-1", SEC, &v));
    CHECK(!take(rl, 0, "new-2", SEC, &v));
    CHECK(!take(rl, 0, "10.0.0.1", SEC, &v)); /* a tracked caller keeps its own */
    /* a minute on, every bucket is full again: dropped, the newcomer tracked */
    CHECK(take(rl, 0, "new-3", 61 * SEC, &v));
    CHECK(!take(rl, 0, "new-3", 61 * SEC, &v));
    CHECK(rl->used < 16);
    kumo__ratelimit_free(rl);
}

int main(void)
{
    test_bucket();
    test_burst_and_refill();
    test_shared_and_own_rule();
    test_long_keys();
    test_ceiling();
    return check_report();
}
