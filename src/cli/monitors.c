/*
 * monitors.c: `kumo monitors [--admin-port N] [--host ADDR]
 * [--admin-token-file FILE] [--json]` asks a running `kumo up` for its
 * monitors and alerts (GET /alerts on the admin port) and prints them as
 * two tables, or as the JSON the gateway sent; `kumo monitors rules [DIR]
 * [--output FILE]` writes Prometheus alerting rules equivalent to DIR's
 * monitors (obs/alert.c) for users who run their own Prometheus
 * (docs/monitors.md).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/yaml_emit.h"
#include "cli/cli.h"
#include "obs/alert.h"
#include "project/project.h"

#define ALERTS_MAX (8u << 20)

static int rules(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL, *output = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) {
            if (i + 1 >= argc) {
                kumo__error_set(err, -KUMO__EUSAGE, "%s needs a file name", argv[i]);
                return err->code;
            }
            output = argv[++i];
        } else if (argv[i][0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[i]);
            return err->code;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory at most ('%s' and '%s' given)", dir, argv[i]);
            return err->code;
        }
    }
    kumo__project *p = NULL;
    kumo__spec *spec = NULL;
    json_t *doc = NULL;
    char *text = NULL;
    int rc;
    if ((rc = kumo__project_load(dir ? dir : ".", &p, err)) < 0 ||
        (rc = kumo__spec_load(p->api_path, &spec, err)) < 0 || (rc = kumo__monitors_check_spec(p, spec, err)) < 0)
        goto out;
    if ((doc = kumo__alert_rules(p, spec)) == NULL || (text = kumo__yaml_dump(doc)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    FILE *f = output ? fopen(output, "w") : stdout;
    if (f == NULL) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: %s", output, strerror(errno));
        goto out;
    }
    fprintf(f,
            "# Prometheus alerting rules equivalent to the monitors of kumo project '%s'\n"
            "# (kumo monitors rules; docs/monitors.md). Load with rule_files: in prometheus.yml.\n",
            p->name);
    fputs(text, f);
    if (output && fclose(f) != 0) {
        rc = -EIO;
        kumo__error_set(err, rc, "%s: cannot write the rules", output);
    }
out:
    free(text);
    json_decref(doc);
    kumo__spec_free(spec);
    kumo__project_free(p);
    return rc < 0 ? rc : 0;
}

/* "p99<50ms err<1% long>80%" */
static void bounds_text(json_t *b, char *buf, size_t len)
{
    size_t o = 0;
    const char *key;
    json_t *v;
    buf[0] = '\0';
    json_object_foreach(b, key, v)
    {
        int w;
        if (key[0] == 'p')
            w = snprintf(buf + o, len - o, "%s%s<%gms", o ? " " : "", key, json_real_value(v) * 1000);
        else if (strcmp(key, "errors") == 0)
            w = snprintf(buf + o, len - o, "%serr<%g%%", o ? " " : "", json_real_value(v) * 100);
        else
            w = snprintf(buf + o, len - o, "%slong>%g%%", o ? " " : "", json_real_value(v) * 100);
        if (w < 0 || (size_t)w >= len - o)
            break;
        o += (size_t)w;
    }
}

static void print_tables(json_t *doc)
{
    json_t *mons = json_object_get(doc, "monitors"), *alerts = json_object_get(doc, "alerts");
    printf(
        "project %s: round %lld (every %g s), alerts after %g s, %lld webhook%s\n",
        json_string_value(json_object_get(doc, "project")) ? json_string_value(json_object_get(doc, "project")) : "?",
        (long long)json_integer_value(json_object_get(doc, "rounds")),
        (double)json_integer_value(json_object_get(doc, "interval_ms")) / 1000,
        json_real_value(json_object_get(doc, "for_s")), (long long)json_integer_value(json_object_get(doc, "webhooks")),
        json_integer_value(json_object_get(doc, "webhooks")) == 1 ? "" : "s");
    printf("%-24s %-12s %6s %8s %7s %9s %9s  %-28s %s\n", "OPERATION", "FUNCTION", "WINDOW", "INVOKED", "ERRORS",
           "P50(MS)", "P99(MS)", "BOUNDS", "PROBE");
    size_t i;
    json_t *m;
    json_array_foreach(mons, i, m)
    {
        json_t *v = json_object_get(m, "values"), *probe = json_object_get(m, "probe");
        char bounds[128], probe_text[64] = "-";
        bounds_text(json_object_get(m, "bounds"), bounds, sizeof(bounds));
        if (probe)
            snprintf(probe_text, sizeof(probe_text), "%s %lld %.1fms",
                     json_is_true(json_object_get(probe, "ok")) ? "ok" : "FAILED",
                     (long long)json_integer_value(json_object_get(probe, "status")),
                     json_real_value(json_object_get(probe, "seconds")) * 1000);
        printf("%-24s %-12s %5gs %8lld %6.2f%% %9.2f %9.2f  %-28s %s\n",
               json_string_value(json_object_get(m, "operation")), json_string_value(json_object_get(m, "function")),
               json_real_value(json_object_get(m, "window_s")),
               (long long)json_integer_value(json_object_get(v, "invocations")),
               json_real_value(json_object_get(v, "error_rate")) * 100,
               json_real_value(json_object_get(v, "p50")) * 1000, json_real_value(json_object_get(v, "p99")) * 1000,
               bounds, probe_text);
    }
    if (json_array_size(alerts) == 0) {
        printf("no alerts\n");
        return;
    }
    printf("\n%-9s %-27s %-24s %-24s %s\n", "STATE", "SINCE", "ALERT", "OPERATION", "SUMMARY");
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        printf("%-9s %-27s %-24s %-24s %s\n", json_string_value(json_object_get(a, "state")),
               json_string_value(json_object_get(a, "since")) ? json_string_value(json_object_get(a, "since")) : "",
               json_string_value(json_object_get(a, "name")), json_string_value(json_object_get(a, "operation")),
               json_string_value(json_object_get(a, "summary")));
    }
}

int kumo__cmd_monitors(int argc, char **argv, kumo__error *err)
{
    if (argc > 0 && strcmp(argv[0], "rules") == 0)
        return rules(argc - 1, argv + 1, err);
    json_t *doc;
    int rc = kumo__admin_show(argc, argv, "/alerts", ALERTS_MAX, "GET /alerts' answer", &doc, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    print_tables(doc);
    json_decref(doc);
    return 0;
}
