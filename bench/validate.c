/*
 * validate.c: how long kumo takes to validate a typical request body.
 *
 * An order (~2 KB: a customer, two addresses, ten line items, dates,
 * enums, an email, UUIDs) against an OpenAPI 3.0 schema of the usual
 * shape: $refs between components, required lists, formats, patterns,
 * enums, additionalProperties: false. Prints the median of several runs
 * of N validations, in nanoseconds per validation, for the valid body and
 * for one with three violations (which also records messages).
 * Built and run by bench/validate.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openapi/pointer.h"
#include "openapi/schema.h"

static const char *doc_text =
    "{\"components\": {\"schemas\": {"
    "\"Order\": {\"type\": \"object\", \"additionalProperties\": false,"
    "  \"required\": [\"id\", \"status\", \"customer\", \"items\", \"created_at\", \"currency\"],"
    "  \"properties\": {"
    "    \"id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    "    \"status\": {\"type\": \"string\", \"enum\": [\"pending\", \"paid\", \"shipped\", \"delivered\", "
    "\"cancelled\"]},"
    "    \"customer\": {\"$ref\": \"#/components/schemas/Customer\"},"
    "    \"shipping_address\": {\"$ref\": \"#/components/schemas/Address\"},"
    "    \"billing_address\": {\"$ref\": \"#/components/schemas/Address\"},"
    "    \"items\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 100,"
    "               \"items\": {\"$ref\": \"#/components/schemas/LineItem\"}},"
    "    \"currency\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}$\"},"
    "    \"total_cents\": {\"type\": \"integer\", \"format\": \"int64\", \"minimum\": 0},"
    "    \"notes\": {\"type\": \"string\", \"maxLength\": 1000, \"nullable\": true},"
    "    \"created_at\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "    \"deliver_by\": {\"type\": \"string\", \"format\": \"date\"}}},"
    "\"Customer\": {\"type\": \"object\", \"required\": [\"id\", \"name\", \"email\"],"
    "  \"properties\": {"
    "    \"id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    "    \"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 200},"
    "    \"email\": {\"type\": \"string\", \"format\": \"email\"},"
    "    \"phone\": {\"type\": \"string\", \"pattern\": \"^\\\\+[0-9]{7,15}$\"},"
    "    \"tier\": {\"type\": \"string\", \"enum\": [\"basic\", \"gold\", \"platinum\"]}}},"
    "\"Address\": {\"type\": \"object\", \"required\": [\"line1\", \"city\", \"postcode\", \"country\"],"
    "  \"properties\": {"
    "    \"line1\": {\"type\": \"string\", \"maxLength\": 200},"
    "    \"line2\": {\"type\": \"string\", \"maxLength\": 200},"
    "    \"city\": {\"type\": \"string\", \"maxLength\": 100},"
    "    \"postcode\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9 -]{3,10}$\"},"
    "    \"country\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{2}$\"}}},"
    "\"LineItem\": {\"type\": \"object\", \"required\": [\"sku\", \"quantity\", \"unit_price_cents\"],"
    "  \"additionalProperties\": false,"
    "  \"properties\": {"
    "    \"sku\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}-[0-9]{4}$\"},"
    "    \"name\": {\"type\": \"string\", \"maxLength\": 200},"
    "    \"quantity\": {\"type\": \"integer\", \"format\": \"int32\", \"minimum\": 1, \"maximum\": 1000},"
    "    \"unit_price_cents\": {\"type\": \"integer\", \"minimum\": 0},"
    "    \"discount\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1, \"exclusiveMaximum\": true},"
    "    \"gift\": {\"type\": \"boolean\"}}}"
    "}}}";

static json_t *make_order(int broken)
{
    json_t *items = json_array();
    for (int i = 0; i < 10; i++) {
        char sku[16];
        snprintf(sku, sizeof sku, "ABC-%04d", 1000 + i);
        json_array_append_new(items, json_pack("{s:s, s:s, s:i, s:i, s:f, s:b}", "sku", sku, "name",
                                               "A sturdy widget, blue", "quantity", 1 + i, "unit_price_cents", 1999 + i,
                                               "discount", 0.1, "gift", i % 2));
    }
    json_t *addr = json_pack("{s:s, s:s, s:s, s:s, s:s}", "line1", "221B Baker Street", "line2", "Flat 2", "city",
                             "London", "postcode", "NW1 6XE", "country", "GB");
    json_t *order =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:O, s:o, s:o, s:s, s:i, s:s, s:s, s:s}", "id",
                  "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "status", broken ? "lost" : "paid", "customer", "id",
                  "9b2d6a1e-1c3f-4e55-8a4b-2f1d3c4b5a69", "name", "Ada Lovelace", "email", "ada@example.com", "phone",
                  "+442071234567", "tier", "gold", "shipping_address", addr, "billing_address", addr, "items", items,
                  "currency", broken ? "gbp" : "GBP", "total_cents", 20440, "notes", "Leave with the porter, please.",
                  "created_at", "2024-05-01T12:34:56.789Z", "deliver_by", broken ? "2024-02-30" : "2024-05-03");
    return order;
}

typedef struct doc_refs {
    kumo__refs base;
    json_t *root;
} doc_refs;

static json_t *resolve(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                       kumo__error *err)
{
    const doc_refs *r = (const doc_refs *)self;
    json_t *t = ref[0] == '#' ? kumo__pointer_get(r->root, ref + 1, strlen(ref + 1), 1) : NULL;
    if (t == NULL)
        kumo__error_set(err, -2, "not found");
    snprintf(where, where_len, "%s", ref + 1);
    return t;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double measure(const kumo__schema *s, const json_t *inst, int iterations, int expect)
{
    enum { RUNS = 7 };
    double per[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (int i = 0; i < iterations; i++) {
            kumo__violations v = {0};
            if (kumo__schema_validate(s, inst, KUMO__DIR_REQUEST, &v) != expect) {
                fprintf(stderr, "unexpected result\n");
                exit(1);
            }
            kumo__violations_free(&v);
        }
        per[r] = (now_ns() - t0) / iterations;
    }
    qsort(per, RUNS, sizeof(double), cmp_double);
    return per[RUNS / 2];
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 20000;
    json_error_t e;
    json_t *doc = json_loads(doc_text, 0, &e);
    if (doc == NULL) {
        fprintf(stderr, "bench schema: %s\n", e.text);
        return 1;
    }
    doc_refs refs = {{resolve}, doc};
    kumo__schema *s = NULL;
    kumo__error err = {0};
    json_t *order_schema = kumo__pointer_get(doc, "/components/schemas/Order", 25, 0);
    if (kumo__schema_compile(order_schema, KUMO__DIALECT_OAS30, "/components/schemas/Order", &refs.base, &s, &err)) {
        fprintf(stderr, "compile: %s\n", err.msg);
        return 1;
    }
    json_t *good = make_order(0), *bad = make_order(1);
    char *text = json_dumps(good, JSON_COMPACT);
    size_t body = strlen(text);
    free(text);
    kumo__violations v = {0};
    kumo__schema_validate(s, bad, KUMO__DIR_REQUEST, &v);
    size_t nbad = v.count;
    kumo__violations_free(&v);
    double ok = measure(s, good, iterations, 0), ko = measure(s, bad, iterations, 1);
    printf("validate: %zu-byte order, OAS 3.0 schema with $refs: %.0f ns per validation (valid), "
           "%.0f ns (invalid, %zu violations recorded); median of 7 runs of %d\n",
           body, ok, ko, nbad, iterations);
    json_decref(good);
    json_decref(bad);
    kumo__schema_free(s);
    json_decref(doc);
    return 0;
}
