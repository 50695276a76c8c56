/*
 * faults.c: the faults of `kumo mock --faults FILE` (faults.h): reading
 * the rules, and deciding per request from a seeded generator.
 *
 * The file is a list of rules, or {seed: N, rules: [...]}:
 *
 *   - operation: getPet          # optional: only this operationId
 *     probability: 0.1           # default 1
 *     latency: {fixed: 200ms} | {uniform: [10ms, 50ms]} | {lognormal: {median: 50ms, sigma: 0.5}}
 *     status: 503                # an error status (400-599) ...
 *     retry_after: 2s            # ... with a Retry-After header
 *     reset: true                # or: close the connection, no answer
 *     truncate: 0.5              # or: send half the body, then close
 *
 * Each request n of a run gets its own generator state, splitmix64 of
 * (seed, n), so its decision does not depend on what other threads drew:
 * every rule whose operation matches draws one number against its
 * probability, and a rule that fires draws its latency from the same
 * state. Nothing reads the clock.
 */
#include "gateway/faults.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum latency_kind { LAT_NONE, LAT_FIXED, LAT_UNIFORM, LAT_LOGNORMAL };

typedef struct rule {
    char *operation; /* NULL: every operation */
    double probability;
    enum latency_kind latency;
    double lat_a, lat_b; /* fixed: a; uniform: [a, b]; lognormal: median a, sigma b (ms) */
    int status;
    uint32_t retry_after_s;
    int reset;
    int truncate;
    double truncate_keep;
} rule;

struct kumo__faults {
    rule *rules;
    size_t nrules;
    uint64_t seed;
    _Atomic uint64_t next;
};

uint64_t kumo__prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double kumo__prng_unit(uint64_t *state)
{
    return (double)(kumo__prng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- reading ---------------------------------------------------------------- */

/* A duration: a number of milliseconds, or a string "250ms", "2s", "1.5s",
 * "1m". 0 and the milliseconds in *ms, or -1. */
static int duration_ms(const json_t *v, double *ms)
{
    if (json_is_number(v)) {
        *ms = json_number_value(v);
        return *ms >= 0 && isfinite(*ms) ? 0 : -1;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(x) || x < 0 || s[0] == '+' || s[0] == '-' || s[0] == ' ')
        return -1;
    if (strcmp(end, "ms") == 0)
        *ms = x;
    else if (strcmp(end, "s") == 0)
        *ms = x * 1000;
    else if (strcmp(end, "m") == 0)
        *ms = x * 60000;
    else
        return -1;
    return 0;
}

static int known_keys(const kumo__doc *doc, const json_t *obj, const char *const *known, const char *where,
                      kumo__error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            char list[200] = "";
            for (size_t i = 0; known[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", known[i]);
            kumo__doc_key_error(err, doc, obj, key, "unknown key '%s' in %s; expected one of: %s", key, where, list);
            return -EINVAL;
        }
    }
    return 0;
}

static int read_duration(const kumo__doc *doc, const json_t *obj, const char *key, const json_t *v, double *ms,
                         kumo__error *err)
{
    if (duration_ms(v, ms) != 0) {
        kumo__doc_value_error(err, doc, obj, key,
                              "'%s' is not a duration; write milliseconds (200) or a string such as 200ms, 2s, 1m",
                              key);
        return -EINVAL;
    }
    if (*ms > KUMO__FAULT_LATENCY_MAX_MS) {
        kumo__doc_value_error(err, doc, obj, key, "'%s' is %.0f ms; at most %d ms (60s) is allowed", key, *ms,
                              KUMO__FAULT_LATENCY_MAX_MS);
        return -EINVAL;
    }
    return 0;
}

static int read_latency(const kumo__doc *doc, const json_t *parent, const json_t *lat, rule *r, kumo__error *err)
{
    static const char *const known[] = {"fixed", "uniform", "lognormal", NULL};
    if (!json_is_object(lat) || json_object_size(lat) != 1) {
        kumo__doc_value_error(err, doc, parent, "latency",
                              "latency must be a mapping with one of fixed, uniform or lognormal, e.g. "
                              "{fixed: 200ms}");
        return -EINVAL;
    }
    if (known_keys(doc, lat, known, "latency", err) != 0)
        return -EINVAL;
    json_t *v;
    if ((v = json_object_get(lat, "fixed")) != NULL) {
        r->latency = LAT_FIXED;
        return read_duration(doc, lat, "fixed", v, &r->lat_a, err);
    }
    if ((v = json_object_get(lat, "uniform")) != NULL) {
        r->latency = LAT_UNIFORM;
        if (!json_is_array(v) || json_array_size(v) != 2) {
            kumo__doc_value_error(err, doc, lat, "uniform",
                                  "uniform takes two durations, [low, high], e.g. [10ms, 50ms]");
            return -EINVAL;
        }
        if (read_duration(doc, lat, "uniform", json_array_get(v, 0), &r->lat_a, err) != 0 ||
            read_duration(doc, lat, "uniform", json_array_get(v, 1), &r->lat_b, err) != 0)
            return -EINVAL;
        if (r->lat_b < r->lat_a) {
            kumo__doc_value_error(err, doc, lat, "uniform",
                                  "uniform's low bound is above its high bound; write [low, high]");
            return -EINVAL;
        }
        return 0;
    }
    v = json_object_get(lat, "lognormal");
    r->latency = LAT_LOGNORMAL;
    static const char *const lknown[] = {"median", "sigma", NULL};
    if (!json_is_object(v)) {
        kumo__doc_value_error(err, doc, lat, "lognormal", "lognormal takes {median: DURATION, sigma: NUMBER}");
        return -EINVAL;
    }
    if (known_keys(doc, v, lknown, "lognormal", err) != 0)
        return -EINVAL;
    json_t *median = json_object_get(v, "median"), *sigma = json_object_get(v, "sigma");
    if (median == NULL || sigma == NULL) {
        kumo__doc_value_error(err, doc, lat, "lognormal", "lognormal needs both median and sigma");
        return -EINVAL;
    }
    if (read_duration(doc, v, "median", median, &r->lat_a, err) != 0)
        return -EINVAL;
    if (r->lat_a <= 0) {
        kumo__doc_value_error(err, doc, v, "median", "a lognormal median must be above 0");
        return -EINVAL;
    }
    if (!json_is_number(sigma) || json_number_value(sigma) < 0 || json_number_value(sigma) > 5) {
        kumo__doc_value_error(err, doc, v, "sigma", "sigma must be a number from 0 to 5 (0.5 is a typical spread)");
        return -EINVAL;
    }
    r->lat_b = json_number_value(sigma);
    return 0;
}

static int read_rule(const kumo__doc *doc, const json_t *node, rule *r, kumo__error *err)
{
    static const char *const known[] = {"operation",   "probability", "latency",  "status",
                                        "retry_after", "reset",       "truncate", NULL};
    if (!json_is_object(node)) {
        kumo__doc_error(err, doc, node,
                        "a fault rule must be a mapping (operation, probability, latency, status, "
                        "retry_after, reset, truncate)");
        return -EINVAL;
    }
    if (known_keys(doc, node, known, "a fault rule", err) != 0)
        return -EINVAL;
    json_t *v;
    r->probability = 1;
    if ((v = json_object_get(node, "operation")) != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            kumo__doc_value_error(err, doc, node, "operation", "operation must be an operationId of the document");
            return -EINVAL;
        }
        if ((r->operation = strdup(json_string_value(v))) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
    }
    if ((v = json_object_get(node, "probability")) != NULL) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
            kumo__doc_value_error(err, doc, node, "probability",
                                  "probability must be a number from 0 to 1 (0.1: one "
                                  "request in ten)");
            return -EINVAL;
        }
        r->probability = json_number_value(v);
    }
    if ((v = json_object_get(node, "latency")) != NULL && read_latency(doc, node, v, r, err) != 0)
        return -EINVAL;
    if ((v = json_object_get(node, "status")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 400 || json_integer_value(v) > 599) {
            kumo__doc_value_error(err, doc, node, "status", "status must be an error status, 400 to 599");
            return -EINVAL;
        }
        r->status = (int)json_integer_value(v);
    }
    if ((v = json_object_get(node, "retry_after")) != NULL) {
        double ms;
        if (r->status == 0) {
            kumo__doc_key_error(err, doc, node, "retry_after", "retry_after goes with a status (429 or 503); add one");
            return -EINVAL;
        }
        if (duration_ms(v, &ms) != 0 || ms > 86400000.0) {
            kumo__doc_value_error(err, doc, node, "retry_after", "retry_after must be a duration up to a day, e.g. 2s");
            return -EINVAL;
        }
        r->retry_after_s = (uint32_t)ceil(ms / 1000);
        if (r->retry_after_s == 0)
            r->retry_after_s = 1;
    }
    if ((v = json_object_get(node, "reset")) != NULL) {
        if (!json_is_boolean(v)) {
            kumo__doc_value_error(err, doc, node, "reset", "reset must be true or false");
            return -EINVAL;
        }
        r->reset = json_is_true(v);
    }
    if ((v = json_object_get(node, "truncate")) != NULL) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) >= 1) {
            kumo__doc_value_error(err, doc, node, "truncate",
                                  "truncate is the fraction of the body sent before the connection closes, from 0 "
                                  "up to (not including) 1");
            return -EINVAL;
        }
        r->truncate = 1;
        r->truncate_keep = json_number_value(v);
    }
    if ((r->status != 0) + r->reset + r->truncate > 1) {
        kumo__doc_error(err, doc, node,
                        "a fault rule has one outcome: status, reset or truncate; split it in two "
                        "rules");
        return -EINVAL;
    }
    if (r->status == 0 && !r->reset && !r->truncate && r->latency == LAT_NONE) {
        kumo__doc_error(err, doc, node,
                        "this fault rule does nothing; give it a latency, a status, reset or "
                        "truncate");
        return -EINVAL;
    }
    return 0;
}

void kumo__faults_free(kumo__faults *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nrules; i++)
        free(f->rules[i].operation);
    free(f->rules);
    free(f);
}

int kumo__faults_from_json(const kumo__doc *doc, const json_t *node, const uint64_t *seed_override, kumo__faults **out,
                           kumo__error *err)
{
    int rc = 0;
    *out = NULL;
    kumo__faults *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    const json_t *rules = node;
    if (json_is_object(node)) {
        static const char *const known[] = {"seed", "rules", NULL};
        if ((rc = known_keys(doc, node, known, "faults", err)) != 0)
            goto out;
        json_t *seed = json_object_get(node, "seed");
        if (seed != NULL) {
            if (!json_is_integer(seed) || json_integer_value(seed) < 0) {
                kumo__doc_value_error(err, doc, node, "seed", "seed must be a whole number, 0 or more");
                rc = -EINVAL;
                goto out;
            }
            f->seed = (uint64_t)json_integer_value(seed);
        }
        rules = json_object_get(node, "rules");
        if (rules == NULL) {
            kumo__doc_error(err, doc, node, "faults has no rules; add rules: [{probability: 0.1, status: 503}]");
            rc = -EINVAL;
            goto out;
        }
    }
    if (!json_is_array(rules)) {
        kumo__doc_error(err, doc, rules, "faults must be a list of rules, or a mapping with rules: and seed:");
        rc = -EINVAL;
        goto out;
    }
    if (json_array_size(rules) > KUMO__FAULTS_RULES_MAX) {
        kumo__doc_error(err, doc, rules, "%zu fault rules; at most %d are allowed", json_array_size(rules),
                        KUMO__FAULTS_RULES_MAX);
        rc = -EINVAL;
        goto out;
    }
    if (json_array_size(rules) > 0 && (f->rules = calloc(json_array_size(rules), sizeof(rule))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(rules); i++) {
        f->nrules = i + 1;
        if ((rc = read_rule(doc, json_array_get(rules, i), &f->rules[i], err)) != 0)
            goto out;
    }
    if (seed_override)
        f->seed = *seed_override;
    *out = f;
    f = NULL;
out:
    kumo__faults_free(f);
    return rc;
}

int kumo__faults_load(const char *path, const uint64_t *seed_override, kumo__faults **out, kumo__error *err)
{
    kumo__doc *doc = NULL;
    *out = NULL;
    int rc = kumo__doc_load(path, &doc, err);
    if (rc == 0)
        rc = kumo__faults_from_json(doc, kumo__doc_root(doc), seed_override, out, err);
    if (rc != 0)
        kumo__error_wrap(err, "reading the faults");
    kumo__doc_free(doc);
    return rc;
}

size_t kumo__faults_count(const kumo__faults *f)
{
    return f ? f->nrules : 0;
}

uint64_t kumo__faults_seed(const kumo__faults *f)
{
    return f ? f->seed : 0;
}

/* ---- deciding --------------------------------------------------------------- */

static double latency_draw(const rule *r, uint64_t *st)
{
    switch (r->latency) {
    case LAT_FIXED: return r->lat_a;
    case LAT_UNIFORM: return r->lat_a + (r->lat_b - r->lat_a) * kumo__prng_unit(st);
    case LAT_LOGNORMAL: {
        /* Box-Muller: u1 in (0, 1] so the log is finite. */
        double u1 = 1.0 - kumo__prng_unit(st), u2 = kumo__prng_unit(st);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        double ms = r->lat_a * exp(r->lat_b * z);
        return ms > KUMO__FAULT_LATENCY_MAX_MS ? KUMO__FAULT_LATENCY_MAX_MS : ms;
    }
    default: return 0;
    }
}

void kumo__faults_decide(const kumo__faults *f, const char *operation_id, uint64_t n, kumo__fault_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->rule = -1;
    if (f == NULL)
        return;
    uint64_t st = f->seed;
    st = kumo__prng_next(&st) ^ (n * 0xD1B54A32D192ED03ull);
    double latency = 0;
    for (size_t i = 0; i < f->nrules; i++) {
        const rule *r = &f->rules[i];
        if (r->operation && (operation_id == NULL || strcmp(r->operation, operation_id) != 0))
            continue;
        double u = kumo__prng_unit(&st);
        if (u >= r->probability)
            continue;
        d->fired++;
        latency += latency_draw(r, &st);
        if (d->rule >= 0 || (r->status == 0 && !r->reset && !r->truncate))
            continue;
        d->rule = (int)i;
        d->status = r->status;
        d->retry_after_s = r->retry_after_s;
        d->reset = r->reset;
        d->truncate = r->truncate;
        d->truncate_keep = r->truncate_keep;
    }
    if (latency > KUMO__FAULT_LATENCY_MAX_MS)
        latency = KUMO__FAULT_LATENCY_MAX_MS;
    d->latency_ms = (uint32_t)(latency + 0.5);
}

void kumo__faults_next(kumo__faults *f, const char *operation_id, kumo__fault_decision *d)
{
    uint64_t n = f ? atomic_fetch_add(&f->next, 1) : 0;
    kumo__faults_decide(f, operation_id, n, d);
}
