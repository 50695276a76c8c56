/*
 * jobs.c: the operations of openapi.yaml and the events of kumo.yaml, in
 * one function unit. Every handler has the same signature, whatever fires
 * it: an HTTP request, a queue message (the message is the body), a
 * schedule's tick.
 *  - createJob stores {id, state: queued, input} in the kv store "jobs" and
 *    sends {id, input} to the queue "work";
 *  - work (the queue event) runs the job (the input upper-cased) and stores
 *    it done; a 2xx answer acknowledges the message, anything else has it
 *    delivered again (max_receives in kumo.yaml, then the dead-letter queue);
 *  - getJob reads the job back;
 *  - tick (the schedule event) counts the minutes in the key "ticks".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime */
#endif
#include <kumo.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS "jobs"
#define QUEUE "work"

static int failed(kumo_ctx *ctx, kumo_response *res, const char *what, int rc)
{
    kumo_log(ctx, KUMO_LOG_ERROR, "%s: %s (%s)", what, kumo_strerror(rc), kumo_store_error(ctx));
    return kumo_response_problem(res, rc == KUMO_EUNAVAILABLE ? 503 : 500, NULL, what);
}

/* Stores `job` (borrowed) under its id. */
static int put_job(kumo_ctx *ctx, json_t *job)
{
    char *text = json_dumps(job, JSON_COMPACT);
    if (text == NULL)
        return KUMO_ENOMEM;
    int rc = kumo_kv_put(ctx, JOBS, json_string_value(json_object_get(job, "id")), text, strlen(text));
    free(text);
    return rc;
}

int createJob(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *input = json_string_value(json_object_get(kumo_request_json(req), "input"));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *id = kumo_sprintf(ctx, "%lld%09ld", (long long)ts.tv_sec, (long)ts.tv_nsec);
    json_t *job = json_pack("{s:s, s:s, s:s}", "id", id, "state", "queued", "input", input ? input : "");
    int rc = put_job(ctx, job);
    if (rc == 0) {
        json_t *m = json_pack("{s:s, s:s}", "id", id, "input", input ? input : "");
        char *msg = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        rc = msg ? kumo_queue_send(ctx, QUEUE, msg, strlen(msg), 0, NULL) : KUMO_ENOMEM;
        free(msg);
    }
    if (rc != 0) {
        json_decref(job);
        return failed(ctx, res, "the job could not be queued", rc);
    }
    return kumo_response_json(res, 202, job);
}

int getJob(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    kumo_kv_item it;
    int rc = kumo_kv_get(ctx, JOBS, kumo_request_param(req, "id"), &it);
    if (rc == KUMO_ENOTFOUND)
        return kumo_response_problem(res, 404, NULL, "no such job");
    if (rc != 0)
        return failed(ctx, res, "the job store failed", rc);
    return kumo_response_body(res, it.value, it.len, "application/json");
}

int work(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *msg = kumo_request_json(req); /* the message kumo_queue_send sent */
    const char *id = json_string_value(json_object_get(msg, "id"));
    const char *input = json_string_value(json_object_get(msg, "input"));
    if (id == NULL || input == NULL) {
        /* a message no retry can fix: acknowledged, and said so */
        kumo_log(ctx, KUMO_LOG_WARN, "event %s: a message without id or input, dropped", kumo_event_id(req));
        kumo_response_status(res, 204);
        return 0;
    }
    char *output = kumo_sprintf(ctx, "%s", input);
    for (char *p = output; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    json_t *job = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "state", "done", "input", input, "output", output);
    int rc = put_job(ctx, job);
    json_decref(job);
    if (rc != 0)
        return failed(ctx, res, "the job store failed", rc); /* 5xx: the message comes back */
    kumo_response_status(res, 204);
    return 0;
}

int tick(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    kumo_kv_item it;
    long long ticks = 0;
    int rc = kumo_kv_get(ctx, JOBS, "ticks", &it);
    if (rc == 0)
        ticks = atoll(it.value);
    else if (rc != KUMO_ENOTFOUND)
        return failed(ctx, res, "the job store failed", rc);
    const char *text = kumo_sprintf(ctx, "%lld", ticks + 1);
    if ((rc = kumo_kv_put(ctx, JOBS, "ticks", text, strlen(text))) != 0)
        return failed(ctx, res, "the job store failed", rc);
    kumo_response_status(res, 204);
    return 0;
}
