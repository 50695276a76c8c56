/*
 * lambda_events.c: the events other than API Gateway's that invoke a kumo
 * function on Lambda (see lambda.h), mapped into kumo__lambda_record in the
 * invocation's arena:
 *
 *   SQS     {"Records":[{"eventSource":"aws:sqs","messageId","receiptHandle",
 *           "body","attributes":{ApproximateReceiveCount, SentTimestamp},
 *           "messageAttributes":{NAME:{stringValue}},"eventSourceARN"}]}
 *           (queue events, and topic events through their SQS queue)
 *   S3      {"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
 *           "eventTime","s3":{"bucket":{"name"},"object":{"key","size","eTag",
 *           "sequencer"}}}]}: the key arrives form-encoded ('+' a space)
 *   SNS     {"Records":[{"EventSource":"aws:sns","Sns":{"MessageId","Message",
 *           "Timestamp","TopicArn","MessageAttributes":{NAME:{"Value"}}}}]}
 *   a tick  {"detail-type":"Scheduled Event","id","time","resources":[ARN],
 *           "detail":{"kumo_event":NAME}}: EventBridge's scheduled event, and
 *           the Input kumo's template gives each AWS::Scheduler::Schedule
 *           (the same shape, with the Scheduler's context attributes)
 *
 * A body the sqs driver sent base64-encoded (message attribute
 * kumo-encoding=base64) is decoded here, so a handler gets the bytes that
 * were sent, as under kumo up. Which kumo event a record belongs to is the
 * host's business (host/lambda_main.c): this file only reads the shapes.
 * Nothing from an event is logged.
 */
#include "sdk/adapters/lambda.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdk/stores/aws.h"

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static char *dup(kumo__arena *a, const char *s)
{
    return s ? kumo__arena_strndup(a, s, strlen(s)) : NULL;
}

/* What follows the last `sep` of an ARN ("arn:aws:sqs:R:A:NAME" -> NAME). */
static char *arn_tail(kumo__arena *a, const char *arn, char sep)
{
    if (arn == NULL)
        return NULL;
    const char *t = strrchr(arn, sep);
    return dup(a, t ? t + 1 : arn);
}

/* Epoch milliseconds (a decimal string) as RFC 3339 UTC with milliseconds. */
static char *ms_time(kumo__arena *a, const char *ms)
{
    if (ms == NULL || !isdigit((unsigned char)*ms))
        return NULL;
    unsigned long long v = strtoull(ms, NULL, 10);
    time_t s = (time_t)(v / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL)
        return NULL;
    char buf[40];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(v % 1000));
    return dup(a, buf);
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* S3's keys in notifications are form-encoded: '+' is a space, %XX a byte. */
static char *form_decode(kumo__arena *a, const char *s)
{
    size_t n = strlen(s), w = 0;
    char *out = kumo__arena_alloc(a, n + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[w++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
                   hexval((unsigned char)s[i + 2]) >= 0) {
            out[w++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            out[w++] = s[i];
        }
    }
    out[w] = '\0';
    return out;
}

/* A message attribute's string value: SQS records spell it stringValue,
 * SNS records Value. */
static const char *attr(json_t *attrs, const char *name)
{
    json_t *v = json_object_get(attrs, name);
    const char *s = jstr(v, "stringValue");
    return s ? s : jstr(v, "Value");
}

/* The body, base64-decoded when kumo-encoding says so. */
static int body_from(kumo__arena *a, json_t *attrs, const char *s, size_t n, kumo__lambda_record *r, kumo__error *err)
{
    const char *enc = attr(attrs, "kumo-encoding");
    if (enc && strcmp(enc, "base64") == 0) {
        unsigned char *d = kumo__arena_alloc(a, n / 4 * 3 + 4);
        if (d == NULL)
            return KUMO_ENOMEM;
        long got = kumo__aws_b64_decode(s, n, d);
        if (got < 0) {
            kumo__error_set(err, -EINVAL, "a record's body is marked kumo-encoding=base64 but is not base64");
            return KUMO_EINVAL;
        }
        d[got] = '\0';
        r->body = (const char *)d;
        r->body_len = (size_t)got;
        return 0;
    }
    char *d = kumo__arena_strndup(a, s, n);
    if (d == NULL)
        return KUMO_ENOMEM;
    r->body = d;
    r->body_len = n;
    return 0;
}

static int sqs_record(kumo__arena *a, json_t *rec, size_t i, kumo__lambda_record *r, kumo__error *err)
{
    json_t *body = json_object_get(rec, "body");
    const char *id = jstr(rec, "messageId");
    const char *arn = jstr(rec, "eventSourceARN");
    if (id == NULL || !json_is_string(body) || arn == NULL) {
        kumo__error_set(err, -EINVAL, "SQS record %zu has no %s", i,
                        id == NULL    ? "messageId"
                        : arn == NULL ? "eventSourceARN"
                                      : "body");
        return KUMO_EINVAL;
    }
    json_t *attrs = json_object_get(rec, "attributes"), *mattrs = json_object_get(rec, "messageAttributes");
    const char *count = jstr(attrs, "ApproximateReceiveCount");
    r->id = dup(a, id);
    r->receipt = dup(a, jstr(rec, "receiptHandle"));
    r->source = arn_tail(a, arn, ':');
    r->time = ms_time(a, jstr(attrs, "SentTimestamp"));
    r->receives = count ? (unsigned)strtoul(count, NULL, 10) : 1;
    if (r->receives == 0)
        r->receives = 1;
    r->content_type = dup(a, attr(mattrs, "content-type"));
    r->traceparent = dup(a, attr(mattrs, "traceparent"));
    char env_tp[128];
    if (r->traceparent == NULL) /* a topic's subscription without raw delivery: the SNS envelope's */
        r->traceparent = dup(a, kumo__sns_envelope_traceparent(json_string_value(body), json_string_length(body),
                                                               env_tp, sizeof(env_tp)));
    if (r->id == NULL || r->source == NULL)
        return KUMO_ENOMEM;
    return body_from(a, mattrs, json_string_value(body), json_string_length(body), r, err);
}

static int s3_record(kumo__arena *a, json_t *rec, size_t i, kumo__lambda_record *r, kumo__error *err)
{
    const char *name = jstr(rec, "eventName");
    json_t *s3 = json_object_get(rec, "s3");
    json_t *obj = json_object_get(s3, "object");
    const char *bucket = jstr(json_object_get(s3, "bucket"), "name");
    const char *key = jstr(obj, "key");
    if (name == NULL || bucket == NULL || key == NULL) {
        kumo__error_set(err, -EINVAL, "S3 record %zu has no %s", i,
                        name == NULL     ? "eventName"
                        : bucket == NULL ? "s3.bucket.name"
                                         : "s3.object.key");
        return KUMO_EINVAL;
    }
    if (strncmp(name, "ObjectCreated:", 14) == 0) {
        r->deleted = 0;
    } else if (strncmp(name, "ObjectRemoved:", 14) == 0) {
        r->deleted = 1;
    } else {
        kumo__error_set(err, -EINVAL,
                        "S3 record %zu is a %.40s event; kumo's blob events are ObjectCreated:* and ObjectRemoved:*", i,
                        name);
        return KUMO_EINVAL;
    }
    json_t *size = json_object_get(obj, "size");
    r->size = !r->deleted && json_is_integer(size) ? (int64_t)json_integer_value(size) : -1;
    r->etag = r->deleted ? NULL : dup(a, jstr(obj, "eTag"));
    r->source = dup(a, bucket);
    r->key = form_decode(a, key);
    r->time = dup(a, jstr(rec, "eventTime"));
    const char *seq = jstr(obj, "sequencer");
    const char *rid = jstr(json_object_get(rec, "responseElements"), "x-amz-request-id");
    char id[300];
    snprintf(id, sizeof(id), "%.120s-%.120s", rid ? rid : "s3", seq ? seq : (r->time ? r->time : "0"));
    r->id = dup(a, id);
    return r->source && r->key && r->id ? 0 : KUMO_ENOMEM;
}

static int sns_record(kumo__arena *a, json_t *rec, size_t i, kumo__lambda_record *r, kumo__error *err)
{
    json_t *sns = json_object_get(rec, "Sns");
    json_t *msg = json_object_get(sns, "Message");
    const char *id = jstr(sns, "MessageId"), *topic = jstr(sns, "TopicArn");
    if (id == NULL || !json_is_string(msg) || topic == NULL) {
        kumo__error_set(err, -EINVAL, "SNS record %zu has no %s", i,
                        id == NULL      ? "Sns.MessageId"
                        : topic == NULL ? "Sns.TopicArn"
                                        : "Sns.Message");
        return KUMO_EINVAL;
    }
    json_t *mattrs = json_object_get(sns, "MessageAttributes");
    r->id = dup(a, id);
    r->source = arn_tail(a, topic, ':');
    r->time = dup(a, jstr(sns, "Timestamp"));
    r->content_type = dup(a, attr(mattrs, "content-type"));
    r->traceparent = dup(a, attr(mattrs, "traceparent"));
    if (r->id == NULL || r->source == NULL)
        return KUMO_ENOMEM;
    return body_from(a, mattrs, json_string_value(msg), json_string_length(msg), r, err);
}

static int schedule_event(kumo__arena *a, json_t *ev, kumo__lambda_event *out, kumo__error *err)
{
    kumo__lambda_record *r = kumo__arena_alloc(a, sizeof(*r));
    if (r == NULL)
        return KUMO_ENOMEM;
    memset(r, 0, sizeof(*r));
    r->size = -1;
    const char *id = jstr(ev, "id");
    const char *arn = json_string_value(json_array_get(json_object_get(ev, "resources"), 0));
    const char *name = jstr(json_object_get(ev, "detail"), "kumo_event");
    if (id == NULL || (arn == NULL && name == NULL)) {
        kumo__error_set(err, -EINVAL, "the Scheduled Event has no %s", id == NULL ? "id" : "resources[0]");
        return KUMO_EINVAL;
    }
    r->id = dup(a, id);
    r->time = dup(a, jstr(ev, "time"));
    r->source = arn ? arn_tail(a, arn, '/') : dup(a, name);
    r->event_name = dup(a, name);
    if (r->id == NULL || r->source == NULL)
        return KUMO_ENOMEM;
    out->kind = KUMO__LAMBDA_SCHEDULE;
    out->records = r;
    out->nrecords = 1;
    return 0;
}

static int records(kumo__arena *a, json_t *recs, kumo__lambda_event *out, kumo__error *err)
{
    size_t n = json_array_size(recs);
    if (n == 0 || n > KUMO__LAMBDA_RECORDS_MAX) {
        kumo__error_set(err, -EINVAL, "the event has %zu Records; kumo takes 1 to %d", n, KUMO__LAMBDA_RECORDS_MAX);
        return KUMO_EINVAL;
    }
    out->records = kumo__arena_alloc(a, n * sizeof(*out->records));
    if (out->records == NULL)
        return KUMO_ENOMEM;
    memset(out->records, 0, n * sizeof(*out->records));
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_array_get(recs, i);
        const char *src = jstr(rec, "eventSource");
        if (src == NULL)
            src = jstr(rec, "EventSource");
        int kind = src == NULL                   ? -1
                   : strcmp(src, "aws:sqs") == 0 ? KUMO__LAMBDA_SQS
                   : strcmp(src, "aws:s3") == 0  ? KUMO__LAMBDA_S3
                   : strcmp(src, "aws:sns") == 0 ? KUMO__LAMBDA_SNS
                                                 : -1;
        if (kind < 0) {
            kumo__error_set(err, -EINVAL,
                            "record %zu comes from %.40s; kumo maps records of aws:sqs, aws:s3 and aws:sns only", i,
                            src ? src : "an unnamed source");
            return KUMO_EINVAL;
        }
        if (i > 0 && kind != out->kind) {
            kumo__error_set(err, -EINVAL, "record %zu comes from %s, record 0 from another source", i, src);
            return KUMO_EINVAL;
        }
        out->kind = kind;
        kumo__lambda_record *r = &out->records[i];
        r->size = -1;
        int rc = kind == KUMO__LAMBDA_SQS  ? sqs_record(a, rec, i, r, err)
                 : kind == KUMO__LAMBDA_S3 ? s3_record(a, rec, i, r, err)
                                           : sns_record(a, rec, i, r, err);
        if (rc != 0) {
            if (rc == KUMO_ENOMEM)
                kumo__error_set(err, -ENOMEM, "out of memory");
            return rc;
        }
    }
    out->nrecords = n;
    return 0;
}

int kumo__lambda_parse_any(kumo__arena *a, const char *json, size_t len, kumo__lambda_event *out, kumo__error *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *ev = json_loadb(json, len, 0, &jerr);
    int rc;
    if (!json_is_object(ev)) {
        kumo__error_set(err, -EINVAL, "the event is not a JSON object");
        rc = KUMO_EINVAL;
    } else if (json_is_array(json_object_get(ev, "Records"))) {
        rc = records(a, json_object_get(ev, "Records"), out, err);
    } else if (jstr(ev, "detail-type") && strcmp(jstr(ev, "detail-type"), "Scheduled Event") == 0) {
        rc = schedule_event(a, ev, out, err);
    } else {
        int looks_http = json_object_get(ev, "httpMethod") != NULL || json_object_get(ev, "rawPath") != NULL;
        json_decref(ev);
        ev = NULL;
        out->kind = KUMO__LAMBDA_HTTP;
        rc = kumo__lambda_parse_event(a, json, len, &out->http, err);
        if (rc == KUMO_EINVAL && !looks_http)
            kumo__error_set(err, err->code ? err->code : -EINVAL,
                            "the event is neither an API Gateway proxy event nor SQS, S3 or SNS records nor a "
                            "Scheduled Event; invoke this function through API Gateway or one of kumo's event "
                            "sources");
    }
    if (rc == KUMO_ENOMEM)
        kumo__error_set(err, -ENOMEM, "out of memory");
    json_decref(ev);
    return rc;
}

char *kumo__lambda_batch_failures(const char *const *ids, size_t n, size_t *len)
{
    json_t *arr = json_array();
    json_t *o = arr ? json_pack("{s:o}", "batchItemFailures", arr) : NULL;
    char *out = NULL;
    if (o == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_pack("{s:s}", "itemIdentifier", ids[i])) != 0)
            goto out;
    out = json_dumps(o, JSON_COMPACT);
    if (out && len)
        *len = strlen(out);
out:
    json_decref(o);
    return out;
}
