/*
 * events.c: `kumo events [DIR] [--count N] [--json] [--from TIME]
 * [--admin-port N] [--host ADDR] [--admin-token-file FILE]`. Lists every
 * event of kumo.yaml with its handler, schedule and zone, and the next N
 * fire times (default 3), each on the event's wall clock with its UTC
 * offset and in UTC. Computed offline from kumo.yaml with the same
 * kumo__schedule_next the gateway fires by, so no running kumo is needed;
 * --from asks "after this instant" instead of "after now" (to see a DST
 * day ahead of time). When a kumo up of the same project answers on the
 * admin port (GET /events), each queue event also shows its queue's depth
 * (ready, in flight, delayed), its dead letters, and what its consumer did
 * since kumo up started (deliveries, retries, failures, in flight).
 *
 * `kumo events redrive NAME [--max N]` moves the dead letters of a queue
 * event back to its queue (POST /events/NAME/redrive). docs/events.md.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/tz.h"
#include "cli/cli.h"
#include "project/project.h"
#include "project/schedule.h"

#define COUNT_MAX 1000
#define LIVE_MAX (4u << 20)

/* `kumo events redrive NAME [--max N]`. */
static int redrive(int argc, char **argv, kumo__error *err)
{
    kumo__admin_target to = {.host = "127.0.0.1", .port = 8081};
    const char *name = NULL;
    long max = 0;
    for (int i = 0; i < argc; i++) {
        int rc = kumo__admin_option(argc, argv, &i, &to, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        if (strcmp(argv[i], "--max") == 0) {
            char *end = NULL;
            max = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (i + 1 == argc || *end != '\0' || max < 1 || max > 1000000000L) {
                kumo__error_set(err, -KUMO__EUSAGE, "--max needs a count from 1 to 1000000000");
                return err->code;
            }
            i++;
        } else if (argv[i][0] == '-' || name) {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[i]);
            return err->code;
        } else {
            name = argv[i];
        }
    }
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 200 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
        kumo__error_set(err, -KUMO__EUSAGE, "redrive which event? a name of kumo.yaml's events: ([a-z0-9_-]+)");
        return err->code;
    }
    char token[KUMO__ADMIN_TOKEN_MAX + 1], path[300];
    int rc = kumo__admin_token(to.token_file, token, sizeof(token), err);
    if (rc != 0)
        return rc;
    if (max > 0)
        snprintf(path, sizeof(path), "/events/%s/redrive?max=%ld", name, max);
    else
        snprintf(path, sizeof(path), "/events/%s/redrive", name);
    kumo__http_res res;
    if ((rc = kumo__admin_call(&to, token, "POST", path, NULL, NULL, 0, 600, LIVE_MAX, &res, err)) != 0)
        return rc;
    json_error_t jerr;
    json_t *doc = json_loadb(res.body, res.len, 0, &jerr);
    if (res.status == 200 && json_is_integer(json_object_get(doc, "moved"))) {
        long long moved = json_integer_value(json_object_get(doc, "moved"));
        printf("event %s: %lld message%s moved from %s to %s\n", name, moved, moved == 1 ? "" : "s",
               json_string_value(json_object_get(doc, "from")), json_string_value(json_object_get(doc, "queue")));
    } else {
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        kumo__error_set(err,
                        res.status == 404   ? -ENOENT
                        : res.status == 409 ? -EBUSY
                                            : -EPROTO,
                        "%s%.800s", res.status == 404 || res.status == 409 ? "" : "the admin port answered: ",
                        detail ? detail : res.body);
        rc = err->code;
    }
    json_decref(doc);
    free(res.head);
    return rc;
}

/* GET /events of a running kumo up serving `project`: the document, or
 * NULL (nothing answers, or another project: said on stderr when the
 * admin port was given explicitly, or always for another project). */
static json_t *live_events(const kumo__admin_target *to, int explicit_port, const char *project)
{
    kumo__error err = {0};
    char token[KUMO__ADMIN_TOKEN_MAX + 1];
    kumo__http_res res;
    if (kumo__admin_token(to->token_file, token, sizeof(token), &err) != 0 ||
        kumo__admin_call(to, token, "GET", "/events", NULL, NULL, 0, 60, LIVE_MAX, &res, &err) != 0) {
        if (explicit_port)
            fprintf(stderr, "kumo events: no figures from a running kumo: %s\n", err.msg);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = res.status == 200 ? json_loadb(res.body, res.len, 0, &jerr) : NULL;
    const char *name = json_string_value(json_object_get(doc, "project"));
    if (doc == NULL || name == NULL) {
        fprintf(stderr, "kumo events: no figures from the kumo on %s:%d: it answered %d: %.200s\n", to->host, to->port,
                res.status, res.body);
        json_decref(doc);
        doc = NULL;
    } else if (project && strcmp(name, project) != 0) {
        fprintf(stderr, "kumo events: the kumo on %s:%d serves the project '%s', not '%s': its figures are not shown\n",
                to->host, to->port, name, project);
        json_decref(doc);
        doc = NULL;
    }
    free(res.head);
    return doc;
}

/* The live record of event `name` in GET /events' document, or NULL. */
static json_t *live_event(json_t *live, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(live, "events"), i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && strcmp(n, name) == 0)
            return v;
    }
    return NULL;
}

/* "3 ready, 0 in flight, 2 delayed", or the error, or "?" */
static void depth_text(json_t *d, char *out, size_t cap)
{
    const char *error = json_string_value(json_object_get(d, "error"));
    if (d == NULL)
        snprintf(out, cap, "?");
    else if (error)
        snprintf(out, cap, "unknown (%s)", error);
    else
        snprintf(out, cap, "%lld ready, %lld in flight, %lld delayed",
                 (long long)json_integer_value(json_object_get(d, "ready")),
                 (long long)json_integer_value(json_object_get(d, "in_flight")),
                 (long long)json_integer_value(json_object_get(d, "delayed")));
}

static void print_live(json_t *ev, const char *queue)
{
    json_t *f = json_object_get(ev, "figures"), *dead = json_object_get(ev, "dead_letters");
    char depth[400], dl[400];
    depth_text(json_object_get(ev, "depth"), depth, sizeof depth);
    if (json_is_integer(json_object_get(dead, "ready")))
        snprintf(dl, sizeof dl, "%lld",
                 (long long)(json_integer_value(json_object_get(dead, "ready")) +
                             json_integer_value(json_object_get(dead, "in_flight")) +
                             json_integer_value(json_object_get(dead, "delayed"))));
    else
        depth_text(dead, dl, sizeof dl);
#define F(k) (long long)json_integer_value(json_object_get(f, k))
    printf("  queue %s: %s; dead letters (%s-dead): %s\n", queue, depth, queue, dl);
    printf("  since kumo up started: %lld delivered (%lld ok, %lld failed: %lld retried, %lld dead-lettered), %lld in "
           "flight\n",
           F("deliveries"), F("succeeded"), F("failures"), F("retries"), F("dead_lettered"), F("in_flight"));
#undef F
}

/* "YYYY-MM-DDTHH:MM:SSZ" to ms since the epoch. */
static int parse_from(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || s[n] != '\0' || mo < 1 ||
        mo > 12 || d < 1 || d > kumo__days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59 || h < 0 || mi < 0 ||
        sec < 0)
        return -1;
    *out = (kumo__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000;
    return 0;
}

int kumo__cmd_events(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL;
    int json = 0, count = 3, rc = 0, explicit_port = 0;
    int64_t from = (int64_t)kumo__epoch_ms();
    kumo__admin_target to = {.host = "127.0.0.1", .port = 8081};
    if (argc > 0 && strcmp(argv[0], "redrive") == 0)
        return redrive(argc - 1, argv + 1, err);
    for (int i = 0; i < argc; i++) {
        int arc = kumo__admin_option(argc, argv, &i, &to, err);
        if (arc < 0)
            return arc;
        if (arc == 1) {
            explicit_port = 1;
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--count") == 0 || strcmp(argv[i], "--from") == 0) {
            int is_count = argv[i][2] == 'c';
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (is_count && (i + 1 == argc || *end != '\0' || end == argv[i + 1] || v < 1 || v > COUNT_MAX)) {
                kumo__error_set(err, -KUMO__EUSAGE, "--count needs a number from 1 to %d", COUNT_MAX);
                return -KUMO__EUSAGE;
            }
            if (!is_count && (i + 1 == argc || parse_from(argv[i + 1], &from) < 0)) {
                kumo__error_set(err, -KUMO__EUSAGE, "--from needs a UTC time like 2026-03-28T12:00:00Z");
                return -KUMO__EUSAGE;
            }
            if (is_count)
                count = (int)v;
            i++;
        } else if (argv[i][0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", argv[i]);
            return -KUMO__EUSAGE;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory at most ('%s' and '%s' given)", dir, argv[i]);
            return -KUMO__EUSAGE;
        }
    }
    if (dir == NULL)
        dir = ".";
    kumo__project *p = NULL;
    json_t *arr = NULL, *live = NULL;
    if ((rc = kumo__project_load(dir, &p, err)) < 0)
        goto out;
    live = live_events(&to, explicit_port, p->name);
    if (json && (arr = json_array()) == NULL)
        goto oom;
    if (!json && p->nevents == 0)
        printf("%s/kumo.yaml declares no events\n", dir);
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        const char *zone = e->timezone ? e->timezone : "UTC";
        json_t *obj = NULL, *next = NULL;
        if (e->kind == KUMO__EVENT_CLOUDEVENT) { /* POSTed to /_kumo/events (docs/events.md) */
            if (json) {
                char handler[256];
                snprintf(handler, sizeof handler, "%s.%s", e->unit, e->symbol);
                obj = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "name", e->name, "handler", handler, "kind",
                                "cloudevent", "type", e->ce_type, "source", e->ce_source, "data", e->data);
                if (obj == NULL || json_array_append_new(arr, obj) < 0)
                    goto oom;
            } else {
                printf("%s%s  %s.%s  cloudevent type %s  source %s  data: %s  (POST /_kumo/events)\n", i ? "\n" : "",
                       e->name, e->unit, e->symbol, e->ce_type, e->ce_source ? e->ce_source : "any",
                       e->data ? e->data : "any");
            }
            continue;
        }
        if (e->kind != KUMO__EVENT_SCHEDULE) {
            const char *kind = kumo__event_kind_name(e->kind);
            const char *from = e->kind == KUMO__EVENT_TOPIC  ? e->topic
                               : e->kind == KUMO__EVENT_BLOB ? e->blob
                                                             : e->queue;
            if (json) {
                char handler[256];
                snprintf(handler, sizeof handler, "%s.%s", e->unit, e->symbol);
                obj = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:i, s:I}", "name", e->name, "handler", handler, "kind",
                                kind, "queue", e->queue, "batch", (int)e->batch, "visibility_ms",
                                (json_int_t)e->visibility_ms, "max_receives", (int)e->max_receives, "backoff_ms",
                                (json_int_t)e->backoff_ms);
                if (obj && e->kind != KUMO__EVENT_QUEUE)
                    json_object_set_new(obj, kind, json_string(from));
                if (obj && e->window_ms)
                    json_object_set_new(obj, "window_ms", json_integer((json_int_t)e->window_ms));
                if (obj && e->data)
                    json_object_set_new(obj, "data", json_string(e->data));
                if (obj == NULL || json_array_append_new(arr, obj) < 0)
                    goto oom;
                json_t *ev = live_event(live, e->name);
                if (ev)
                    json_object_set_new(obj, "live",
                                        json_pack("{s:O*, s:O*, s:O*}", "figures", json_object_get(ev, "figures"),
                                                  "depth", json_object_get(ev, "depth"), "dead_letters",
                                                  json_object_get(ev, "dead_letters")));
            } else {
                printf("%s%s  %s.%s  %s %s  batch: %u  visibility: %.3gs  max_receives: %u  backoff: %.3gs\n",
                       i ? "\n" : "", e->name, e->unit, e->symbol, kind, from, e->batch,
                       (double)e->visibility_ms / 1000, e->max_receives, (double)e->backoff_ms / 1000);
                json_t *ev = live_event(live, e->name);
                if (ev && e->kind == KUMO__EVENT_QUEUE)
                    print_live(ev, e->queue);
            }
            continue;
        }
        if (json) {
            char handler[256];
            snprintf(handler, sizeof handler, "%s.%s", e->unit, e->symbol);
            obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "name", e->name, "handler", handler, "kind",
                            "schedule", "schedule", e->schedule, "timezone", zone, "missed",
                            e->missed_once ? "once" : "skip", "overlap", e->overlap, "next", json_array());
            if (obj == NULL || json_array_append_new(arr, obj) < 0)
                goto oom;
            next = json_object_get(obj, "next");
        } else {
            printf("%s%s  %s.%s  schedule \"%s\"  %s  missed: %s  overlap: %s\n", i ? "\n" : "", e->name, e->unit,
                   e->symbol, e->schedule, zone, e->missed_once ? "once" : "skip", e->overlap ? "true" : "false");
        }
        int64_t t = from;
        int shown = 0;
        for (int k = 0; k < count; k++) {
            t = kumo__schedule_next(e->compiled, t);
            if (t < 0)
                break;
            char local[64], utc[64];
            kumo__schedule_format(e->tz, t, local, sizeof local, utc, sizeof utc);
            shown++;
            if (json) {
                if (json_array_append_new(
                        next, json_pack("{s:s, s:s, s:I}", "local", local, "utc", utc, "epoch_ms", (json_int_t)t)) < 0)
                    goto oom;
            } else {
                printf("  %s  (%s)\n", local, utc);
            }
        }
        if (!json && shown == 0)
            printf("  never: no fire time in the next 5 years\n");
    }
    if (json) {
        if (json_dumpf(arr, stdout, JSON_INDENT(2)) < 0)
            goto oom;
        putchar('\n');
    }
    goto out;
oom:
    rc = -ENOMEM;
    kumo__error_set(err, rc, "out of memory");
out:
    json_decref(live);
    json_decref(arr);
    kumo__project_free(p);
    return rc;
}
