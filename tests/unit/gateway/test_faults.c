/*
 * test_faults.c: the faults of kumo mock (src/gateway/faults.c): the rules
 * read from YAML and JSON with refusals that name line and column; the
 * decisions, the same for the same seed and request index and different
 * for another seed; and the shape of what the latencies and probabilities
 * draw over many requests with a fixed seed (rates, bounds, the lognormal's
 * median).
 */
#include "check.h"
#include "gateway/faults.c"

#include <stdlib.h>

static kumo__faults *parse(const char *name, const char *text, const uint64_t *seed, kumo__error *err)
{
    kumo__doc *doc = NULL;
    kumo__faults *f = NULL;
    memset(err, 0, sizeof(*err));
    if (kumo__doc_parse(name, text, strlen(text), &doc, err) == 0)
        kumo__faults_from_json(doc, kumo__doc_root(doc), seed, &f, err);
    kumo__doc_free(doc);
    return f;
}

static int refused_with(const char *text, const char *want)
{
    kumo__error err;
    kumo__faults *f = parse("faults.yaml", text, NULL, &err);
    int ok = f == NULL && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "  for: %s\n  got: %s\n  want: %s\n", text, err.msg, want);
    kumo__faults_free(f);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    kumo__error err;

    /* ---- reading ---- */
    kumo__faults *f = parse("faults.yaml",
                            "seed: 7\n"
                            "rules:\n"
                            "  - operation: getPet\n"
                            "    probability: 0.25\n"
                            "    status: 503\n"
                            "    retry_after: 2s\n"
                            "  - latency: {uniform: [10ms, 50ms]}\n"
                            "  - probability: 0.1\n"
                            "    reset: true\n"
                            "  - probability: 0.1\n"
                            "    truncate: 0.5\n",
                            NULL, &err);
    CHECK(f != NULL);
    if (f == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return check_report();
    }
    CHECK_INT(kumo__faults_count(f), 4);
    CHECK_INT(kumo__faults_seed(f), 7);
    CHECK_INT(f->rules[0].retry_after_s, 2);
    CHECK_STR(f->rules[0].operation, "getPet");
    CHECK(f->rules[1].latency == LAT_UNIFORM && f->rules[1].lat_a == 10 && f->rules[1].lat_b == 50);
    kumo__faults_free(f);

    /* A plain list, in JSON, and --seed wins over the file's. */
    uint64_t over = 99;
    f = parse("faults.json", "[{\"latency\": {\"fixed\": 200}, \"probability\": 1}]", &over, &err);
    CHECK(f != NULL);
    CHECK_INT(kumo__faults_seed(f), 99);
    kumo__fault_decision d;
    kumo__faults_decide(f, "anything", 0, &d);
    CHECK_INT(d.latency_ms, 200);
    CHECK_INT(d.status, 0);
    CHECK_INT(d.rule, -1);
    CHECK_INT(d.fired, 1);
    kumo__faults_free(f);

    /* Refusals name the file, line and column, and what to do. */
    CHECK(refused_with("- status: 503\n  probabilty: 0.1\n", "faults.yaml:2:3: unknown key 'probabilty'"));
    CHECK(refused_with("- status: 503\n  probability: 1.5\n", "faults.yaml:2:16: probability must be"));
    CHECK(refused_with("- status: 200\n", "faults.yaml:1:11: status must be an error status"));
    CHECK(refused_with("- latency: {fixed: 2 weeks}\n", "faults.yaml:1:20: 'fixed' is not a duration"));
    CHECK(refused_with("- latency: {fixed: 2h}\n", "not a duration"));
    CHECK(refused_with("- latency: {fixed: 61s}\n", "at most 60000 ms"));
    CHECK(refused_with("- latency: {uniform: [50ms, 10ms]}\n", "faults.yaml:1:22: uniform's low bound"));
    CHECK(refused_with("- latency: {lognormal: {median: 50ms}}\n", "needs both median and sigma"));
    CHECK(refused_with("- latency: {lognormal: {median: 50ms, sigma: -1}}\n", "faults.yaml:1:46: sigma must be"));
    CHECK(refused_with("- latency: {fixed: 1ms, uniform: [1ms, 2ms]}\n", "latency must be a mapping with one of"));
    CHECK(refused_with("- retry_after: 2s\n", "faults.yaml:1:3: retry_after goes with a status"));
    CHECK(refused_with("- status: 503\n  reset: true\n", "faults.yaml:1:3: a fault rule has one outcome"));
    CHECK(refused_with("- probability: 0.5\n", "this fault rule does nothing"));
    CHECK(refused_with("- truncate: 1\n", "truncate is the fraction"));
    CHECK(refused_with("seed: -3\nrules: []\n", "faults.yaml:1:7: seed must be"));
    CHECK(refused_with("seed: 3\n", "faults has no rules"));
    CHECK(refused_with("42\n", "faults.yaml:1:1: faults must be a list"));
    CHECK(refused_with("- operation: 7\n  status: 500\n", "operation must be an operationId"));
    CHECK(refused_with("- [status, 503]\n", "faults.yaml:1:3: a fault rule must be a mapping"));

    /* ---- deciding: determinism ---- */
    const char *mixed = "rules:\n"
                        "  - {probability: 0.3, status: 503, retry_after: 1s}\n"
                        "  - {probability: 0.1, reset: true}\n"
                        "  - {probability: 0.1, truncate: 0.25}\n"
                        "  - {latency: {lognormal: {median: 50ms, sigma: 0.5}}}\n";
    uint64_t s1 = 42, s2 = 43;
    kumo__faults *a = parse("f.yaml", mixed, &s1, &err), *b = parse("f.yaml", mixed, &s1, &err),
                 *c = parse("f.yaml", mixed, &s2, &err);
    CHECK(a && b && c);
    int same = 1, differs = 0;
    for (int i = 0; i < 1000; i++) {
        kumo__fault_decision x, y, z;
        kumo__faults_next(a, "op", &x);
        kumo__faults_next(b, "op", &y);
        kumo__faults_decide(c, "op", (uint64_t)i, &z);
        same &= memcmp(&x, &y, sizeof(x)) == 0;
        differs |= x.status != z.status || x.reset != z.reset || x.latency_ms != z.latency_ms;
    }
    CHECK(same);    /* the same seed, the same decisions */
    CHECK(differs); /* another seed, other decisions */
    /* Pure: decide(n) again gives what next() gave for n. */
    kumo__fault_decision x, y;
    kumo__faults_decide(a, "op", 17, &x);
    kumo__faults_decide(a, "op", 17, &y);
    CHECK(memcmp(&x, &y, sizeof(x)) == 0);
    kumo__faults_free(a);
    kumo__faults_free(b);
    kumo__faults_free(c);

    /* ---- deciding: the shape of the draws (fixed seed, 20000 requests) ---- */
    enum { N = 20000 };
    uint64_t s0 = 1;
    f = parse("f.yaml", mixed, &s0, &err);
    int n503 = 0, nreset = 0, ntrunc = 0;
    static double lat[N];
    for (int i = 0; i < N; i++) {
        kumo__faults_decide(f, "op", (uint64_t)i, &d);
        n503 += d.status == 503;
        nreset += d.reset;
        ntrunc += d.truncate;
        if (d.status == 503)
            CHECK_INT(d.retry_after_s, 1);
        if (d.truncate)
            CHECK(d.truncate_keep == 0.25);
        lat[i] = d.latency_ms;
    }
    /* The first rule fires 30% of the time; the reset rule decides only
     * when the first did not (0.7 * 0.1), the truncation when neither
     * did (0.7 * 0.9 * 0.1). Bounds are about 5 standard deviations. */
    CHECK(n503 > 0.30 * N - 350 && n503 < 0.30 * N + 350);
    CHECK(nreset > 0.07 * N - 200 && nreset < 0.07 * N + 200);
    CHECK(ntrunc > 0.063 * N - 200 && ntrunc < 0.063 * N + 200);
    qsort(lat, N, sizeof(double), cmp_double);
    double median = lat[N / 2], p84 = lat[(int)(N * 0.8413)];
    CHECK(median >= 47 && median <= 53);               /* the median asked for */
    CHECK(p84 / median > 1.55 && p84 / median < 1.75); /* one sigma up: e^0.5 = 1.65 */
    kumo__faults_free(f);

    /* Uniform stays in its bounds and fills them; an operation filter. */
    f = parse("f.yaml",
              "- {latency: {uniform: [10ms, 50ms]}}\n"
              "- {operation: getPet, status: 500}\n",
              &s0, &err);
    double lo = 1e9, hi = 0, sum = 0;
    int n500 = 0;
    for (int i = 0; i < N; i++) {
        kumo__faults_decide(f, i % 2 ? "getPet" : "listPets", (uint64_t)i, &d);
        lo = d.latency_ms < lo ? d.latency_ms : lo;
        hi = d.latency_ms > hi ? d.latency_ms : hi;
        sum += d.latency_ms;
        n500 += d.status == 500;
    }
    CHECK(lo >= 10 && lo <= 11 && hi >= 49 && hi <= 50);
    CHECK(sum / N > 29 && sum / N < 31);
    CHECK_INT(n500, N / 2);
    kumo__faults_decide(f, NULL, 0, &d); /* no operation: the filtered rule never fires */
    CHECK_INT(d.status, 0);
    kumo__faults_free(f);

    /* A file that does not exist names itself. */
    CHECK(kumo__faults_load("/nonexistent/faults.yaml", NULL, &f, &err) != 0);
    CHECK(strstr(err.msg, "/nonexistent/faults.yaml") != NULL);
    return check_report();
}
