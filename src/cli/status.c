/*
 * status.c: `kumo status [--admin-port N] [--host ADDR] [--admin-token-file
 * FILE] [--json]` asks a running `kumo up` for its functions' figures (GET
 * /status on the admin port, loopback by default) and prints them as a
 * table, or as the JSON the gateway sent.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define STATUS_MAX (4u << 20)

int kumo__cmd_status(int argc, char **argv, kumo__error *err)
{
    json_t *doc;
    int rc = kumo__admin_show(argc, argv, "/status", STATUS_MAX, "the status", &doc, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    printf("project %s, %d event loop%s\n", json_string_value(json_object_get(doc, "project")),
           (int)json_integer_value(json_object_get(doc, "loops")),
           json_integer_value(json_object_get(doc, "loops")) == 1 ? "" : "s");
    printf("%-16s %5s %4s %4s %6s %8s %8s %6s %7s %7s %9s %9s\n", "FUNCTION", "REPL", "BUSY", "IDLE", "QUEUED",
           "INFLIGHT", "INVOKED", "COLD", "TIMEOUT", "CRASHES", "P50(MS)", "P99(MS)");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "functions"), i, f)
    {
        json_t *r = json_object_get(f, "replicas"), *m = json_object_get(f, "last_minute");
#define I(obj, key) (long long)json_integer_value(json_object_get(obj, key))
        printf("%-16s %5lld %4lld %4lld %6lld %8lld %8lld %6lld %7lld %7lld %9.2f %9.2f\n",
               json_string_value(json_object_get(f, "name")), I(r, "total"), I(r, "busy"), I(r, "idle"), I(f, "queued"),
               I(f, "in_flight"), I(f, "invocations"), I(f, "cold_starts"), I(f, "timeouts"), I(f, "crashes"),
               json_real_value(json_object_get(m, "p50_ms")), json_real_value(json_object_get(m, "p99_ms")));
#undef I
    }
    json_decref(doc);
    return 0;
}
