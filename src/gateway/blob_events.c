/*
 * blob_events.c: blob storage events under kumo up (kumo.yaml's
 * `events: NAME: {blob: STORE, on:, prefix:, suffix:}`; docs/events.md).
 *
 * The file: blob driver (src/sdk/stores/file_blob.c) records each event
 * with the write, before the object is renamed into place or unlinked, in
 * the outbox DIR/.kumo-events.db, an embedded queue file whose queue
 * STORE.EVENT (d->queue) holds one event's messages. consumer.c consumes
 * that queue like a queue event's (ack on 2xx, backoff, STORE.EVENT-dead
 * after max_receives); this file gives it what differs:
 *  - where the queue is (the outbox beside the store's objects);
 *  - the check before a `created` event is handed over (on the consumer's
 *    thread): a writer that crashed (or failed) between the record and the
 *    rename leaves an event for an object that never came. The object is
 *    looked for; missing, the event is dropped with an info line once it is
 *    older than the event's visibility (a write that takes longer than that
 *    to rename is not a write in progress), and put back until then. The
 *    usual case, the consumer woken by the record a moment before the
 *    rename, is covered by looking again for up to RENAME_WAIT_MS first.
 *    An object deleted before its created event was delivered looks the
 *    same and goes the same way (its deleted event is delivered);
 *    A `deleted` event is delivered even when the key exists again (a put
 *    after the delete): events of one key are not ordered;
 *  - its CloudEvents attributes: ce-type dev.kumo.blob.created or
 *    .deleted, ce-source /kumo/PROJECT/blobs/STORE, ce-subject the key,
 *    ce-time the write's time, content-type application/json;
 *  - the refusal, at load, of blob events on a store that is not file:
 *    (the s3: driver records nothing: on aws blob events are S3
 *    notifications, which kumo deploy sets up).
 */
#include "gateway/gateway_internal.h"

#include "sdk/sdk.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RENAME_WAIT_MS 100 /* how long a missing object is looked for before its event is put back */
#define LOOK_EVERY_MS 5

int kumo__gw_blob_events_check(const kumo__project *p, const kumo__store_plan *plan, kumo__error *err)
{
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->kind != KUMO__EVENT_BLOB)
            continue;
        const kumo__store_place *s = kumo__store_plan_find(plan, e->blob);
        if (s == NULL || strncmp(s->url, "file:", 5) == 0)
            continue;
        char fix[1200];
        kumo__store_place_fix(p, plan, s, fix, sizeof(fix));
        kumo__error_set(err, -EINVAL,
                        "%s:%d:%d: events.%s: blob events run under kumo up on the embedded file: blob store only, "
                        "and store '%s' is at %s (on aws, kumo deploy makes them S3 notifications); place '%s' on "
                        "file: for kumo up (%s), or remove the event",
                        kumo__doc_path(p->doc), e->line, e->col, e->name, e->blob, s->shown, e->blob, fix);
        return err->code;
    }
    return 0;
}

const char *kumo__gw_event_queue_url(const kumo__event_decl *d, const kumo__store_place *place, char *buf, size_t size)
{
    if (place == NULL)
        return NULL;
    if (d->kind != KUMO__EVENT_BLOB)
        return place->url;
    return kumo__file_blob_outbox_url(place->url, buf, size) == 0 ? buf : NULL;
}

/* The fields of a blob event's message; 0, or -1 when it is not one. */
static int parse(const char *body, size_t len, json_t **root, const char **key, const char **event, const char **when)
{
    *root = json_loadb(body, len, 0, NULL);
    *key = json_string_value(json_object_get(*root, "key"));
    *event = json_string_value(json_object_get(*root, "event"));
    *when = json_string_value(json_object_get(*root, "time"));
    if (*key && *event && (strcmp(*event, "created") == 0 || strcmp(*event, "deleted") == 0))
        return 0;
    json_decref(*root);
    *root = NULL;
    return -1;
}

/* "2026-12-05T08:00:00.123Z" as epoch milliseconds; -1 when it is not. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = 0, used = 0;
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &ms, &used) != 7 ||
        s[used] != '\0')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

size_t kumo__gw_blob_events_sort(const char *event, const kumo__event_decl *d, const kumo__store_place *place,
                                 kumo__queue *q, kumo_queue_message *msgs, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        kumo_queue_message *m = &msgs[i];
        json_t *root;
        const char *key, *kind, *when;
        int there = 1;
        if (place != NULL && parse(m->body, m->len, &root, &key, &kind, &when) == 0) {
            if (strcmp(kind, "created") == 0) {
                there = kumo__file_blob_exists(place->url, d->blob, key);
                for (int waited = 0; there == 0 && waited < RENAME_WAIT_MS; waited += LOOK_EVERY_MS) {
                    usleep(LOOK_EVERY_MS * 1000);
                    there = kumo__file_blob_exists(place->url, d->blob, key);
                }
            }
            if (there == 0) {
                int64_t at = parse_time(when), age = at < 0 ? -1 : (int64_t)kumo__epoch_ms() - at;
                if (age < 0 || age >= (int64_t)d->visibility_ms) {
                    int rc = q->driver->ack(q, m->receipt);
                    kumo__log_event("info",
                                    "event %s: dropped the created event of blob '%s' (message %s, recorded %s): the "
                                    "object is not there: it never came (its write failed or was killed after "
                                    "recording it), or it was deleted since%s",
                                    event, key, m->id, when ? when : "at an unknown time",
                                    rc == 0 ? "" : "; the ack failed, so it comes back once more");
                } else {
                    uint64_t delay = (uint64_t)((int64_t)d->visibility_ms - age) + 10;
                    q->driver->nack(q, m->receipt, delay);
                }
            }
            json_decref(root);
        }
        if (there != 0) /* an error looking (there < 0) delivers: never lost */
            msgs[kept++] = *m;
    }
    return kept;
}

int kumo__gw_blob_event_attrs(const kumo__project *p, const kumo__event_decl *d, const char *body, size_t len,
                              kumo__gw_blob_attrs *out)
{
    json_t *root;
    const char *key, *kind, *when;
    snprintf(out->source, sizeof(out->source), "/kumo/%s/blobs/%s", p->name ? p->name : "", d->blob);
    if (parse(body, len, &root, &key, &kind, &when) != 0)
        return -1;
    out->type = strcmp(kind, "created") == 0 ? "dev.kumo.blob.created" : "dev.kumo.blob.deleted";
    snprintf(out->subject, sizeof(out->subject), "%s", key);
    snprintf(out->time, sizeof(out->time), "%s", when && parse_time(when) >= 0 ? when : "");
    json_decref(root);
    return 0;
}
