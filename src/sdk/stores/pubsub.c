/*
 * pubsub.c: the queue driver for Pub/Sub, `pubsub://NAME?project=P&
 * endpoint=URL&max_receives=N`, over gcp.c (libcurl, REST v1).
 *
 * A queue NAME is the topic NAME and its pull subscription NAME, with
 *
 *   NAME-delay  topic and subscription: messages sent with a delay wait
 *               here, with their due time in the attribute kumo-not-before
 *   NAME-dead   topic and subscription: the dead letters, itself a queue
 *               (pubsub://NAME-dead) whose own dead letters go to
 *               NAME-dead-dead (a topic only, until that queue is opened)
 *
 * made on first use (and again when a call finds them gone: a restarted
 * emulator forgets everything), that call then retried once.
 *
 * Receives: a pull (returnImmediately) of up to max messages; each is
 * hidden for the visibility asked (the subscription's ack deadline is the
 * default 30 s; another one is set with modifyAckDeadline, in whole seconds
 * from 1 to Pub/Sub's 600). The receive count is Pub/Sub's deliveryAttempt,
 * which Pub/Sub fills only on a subscription with a dead-letter policy: the
 * subscription has one (to NAME-dead, at Pub/Sub's largest, 100 attempts),
 * while kumo's own max_receives is applied here: a message received
 * max_receives times that comes once more is published to NAME-dead and
 * acked (so max_receives above 100 is not reached: Pub/Sub moves it first).
 * A nack is modifyAckDeadline to the delay (0: at once); an ack is
 * acknowledge. Pub/Sub accepts an ack with a stale ackId without saying
 * whether it deleted anything (KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED).
 *
 * Delays: Pub/Sub has none. A delayed send publishes to NAME-delay; a
 * receive first (at most every DELAY_POLL_MS per handle) pulls NAME-delay,
 * publishes what is due to NAME and acks it there, and hides what is not
 * due until it is (in steps of at most 600 s). Kept apart so that early
 * pulls do not count as receives of the message. A message moved this way
 * or to the dead letters keeps its first id (attribute kumo-id), its send
 * time (kumo-sent, epoch ms) and its traceparent (attribute traceparent).
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"
#include "sdk/stores/gcp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 200 /* Pub/Sub's 255, less "-dead-dead-delay" */
#define ACK_DEADLINE_S 30
#define ACK_DEADLINE_MAX_S 600
#define DLP_MAX_ATTEMPTS 100
#define DELAY_POLL_MS 250
#define URL_MAX 1024
#define ATTR_ID "kumo-id"
#define ATTR_SENT "kumo-sent"
#define ATTR_NOT_BEFORE "kumo-not-before"
#define ATTR_TRACE "traceparent"

static const char *const known[] = {"project", "endpoint", "max_receives", NULL};

typedef struct ps {
    kumo__queue base;
    pthread_mutex_t lock; /* guards g, ready, last_delay_poll */
    kumo__gcp *g;
    char *name;
    char *topic; /* a topic's subscription (pubsub_topic.c): that topic, whose driver makes and removes
                    the subscription NAME; NULL for a queue of its own */
    char *root;  /* BASE/v1/projects/P, made on the first call */
    int ready;
    uint64_t last_delay_poll;
} ps;

/* ---- resources ---------------------------------------------------------------- */

static const char *root_url(ps *p)
{
    if (p->root)
        return p->root;
    const char *project = kumo__gcp_project(p->g);
    if (project && asprintf(&p->root, "%s/v1/projects/%s", kumo__gcp_base(p->g), project) < 0)
        p->root = NULL;
    return p->root;
}

/* PUT one topic or subscription (kind "topics"/"subscriptions"); an
 * existing one is fine. Takes body (NULL: {}). */
static int put_resource(ps *p, const char *kind, const char *name, json_t *body)
{
    char url[URL_MAX];
    json_t *resp = NULL;
    snprintf(url, sizeof(url), "%s/%s/%s", p->root, kind, name);
    int rc = kumo__gcp_json(p->g, "PUT", url, body ? body : json_object(), &resp);
    json_decref(resp);
    /* ALREADY_EXISTS; PERMISSION_DENIED: a role that may use but not make
     * them (deploy made them): the data call that follows says if not */
    if (rc == KUMO_ECONFLICT || (rc != 0 && strcmp(kumo__gcp_status(p->g), "PERMISSION_DENIED") == 0)) {
        *p->base.error = '\0';
        return 0;
    }
    return rc;
}

/* Makes topic `name` and, unless sub is 0, its subscription with a
 * dead-letter policy to `dead` (a topic made first). */
static int make_queue(ps *p, const char *name, const char *dead, int sub)
{
    char topic[URL_MAX], dead_topic[URL_MAX];
    int rc = put_resource(p, "topics", name, NULL);
    if (rc == 0 && dead)
        rc = put_resource(p, "topics", dead, NULL);
    if (rc != 0 || !sub)
        return rc;
    snprintf(topic, sizeof(topic), "%s/topics/%s", strstr(p->root, "projects/"), name);
    snprintf(dead_topic, sizeof(dead_topic), "%s/topics/%s", strstr(p->root, "projects/"), dead);
    return put_resource(p, "subscriptions", name,
                        json_pack("{s:s, s:i, s:{s:s, s:i}}", "topic", topic, "ackDeadlineSeconds", ACK_DEADLINE_S,
                                  "deadLetterPolicy", "deadLetterTopic", dead_topic, "maxDeliveryAttempts",
                                  DLP_MAX_ATTEMPTS));
}

/* Makes every topic and subscription of the queue. Lock held. */
static int ensure(ps *p)
{
    char delay[NAME_MAX_LEN + 16], dead[NAME_MAX_LEN + 16], dead2[NAME_MAX_LEN + 16];
    if (p->ready)
        return 0;
    if (root_url(p) == NULL)
        return KUMO_EINVAL;
    snprintf(delay, sizeof(delay), "%s-delay", p->name);
    snprintf(dead, sizeof(dead), "%s-dead", p->name);
    snprintf(dead2, sizeof(dead2), "%s-dead-dead", p->name);
    int rc = make_queue(p, dead, dead2, 1);
    if (rc == 0 && p->topic) {
        /* a subscription: the topic's driver makes it (a missing one was
         * unsubscribed, and pulls say NOT_FOUND) */
        p->ready = 1;
        *p->base.error = '\0';
        return 0;
    }
    if (rc == 0)
        rc = make_queue(p, p->name, dead, 1);
    if (rc == 0)
        rc = make_queue(p, delay, dead, 1);
    if (rc == 0) {
        p->ready = 1;
        *p->base.error = '\0';
    }
    return rc;
}

/* POST ROOT/KIND/NAME:VERB with req (taken): the data plane, its
 * resources made first, and again (the call retried once) when it finds
 * them gone. Lock held. */
static int call(ps *p, const char *kind, const char *name, const char *verb, json_t *req, json_t **resp)
{
    char url[URL_MAX];
    *resp = NULL;
    if (req == NULL) {
        snprintf(p->base.error, sizeof(p->base.error), "out of memory");
        return KUMO_ENOMEM;
    }
    int rc = ensure(p);
    if (rc != 0) {
        json_decref(req);
        return rc;
    }
    snprintf(url, sizeof(url), "%s/%s/%s:%s", p->root, kind, name, verb);
    json_incref(req);
    rc = kumo__gcp_json(p->g, "POST", url, req, resp);
    if (rc == KUMO_ENOTFOUND) {
        p->ready = 0;
        if ((rc = ensure(p)) == 0) {
            json_incref(req);
            rc = kumo__gcp_json(p->g, "POST", url, req, resp);
        }
    }
    json_decref(req);
    return rc;
}

/* ---- messages ---------------------------------------------------------------- */

/* Publishes one message (data already base64, attrs taken) to topic name. */
static int publish(ps *p, const char *topic, const char *data64, json_t *attrs, const char **id, kumo__arena *a)
{
    json_t *resp = NULL;
    json_t *req = attrs ? json_pack("{s:[{s:s, s:o}]}", "messages", "data", data64, "attributes", attrs) : NULL;
    int rc = call(p, "topics", topic, "publish", req, &resp);
    if (rc == 0 && id) {
        const char *mid = json_string_value(json_array_get(json_object_get(resp, "messageIds"), 0));
        *id = mid && a ? kumo__arena_strndup(a, mid, strlen(mid)) : NULL;
        if (*id == NULL)
            rc = KUMO_ENOMEM;
    }
    json_decref(resp);
    return rc;
}

/* A message's attributes as a copy, with kumo-id set to its first id. */
static json_t *carried_attrs(json_t *msg)
{
    json_t *attrs = json_deep_copy(json_object_get(msg, "attributes"));
    if (attrs == NULL)
        attrs = json_object();
    if (attrs && json_object_get(attrs, ATTR_ID) == NULL) {
        const char *mid = json_string_value(json_object_get(msg, "messageId"));
        json_object_set_new(attrs, ATTR_ID, json_string(mid ? mid : ""));
    }
    return attrs;
}

static int ack_ids(ps *p, const char *sub, json_t *ids)
{
    json_t *resp = NULL;
    int rc = call(p, "subscriptions", sub, "acknowledge", json_pack("{s:o}", "ackIds", ids), &resp);
    json_decref(resp);
    return rc;
}

static int mod_ack(ps *p, const char *sub, json_t *ids, long seconds)
{
    json_t *resp = NULL;
    int rc = call(p, "subscriptions", sub, "modifyAckDeadline",
                  json_pack("{s:o, s:I}", "ackIds", ids, "ackDeadlineSeconds", (json_int_t)seconds), &resp);
    json_decref(resp);
    return rc;
}

static long ceil_seconds(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s > ACK_DEADLINE_MAX_S ? ACK_DEADLINE_MAX_S : (long)s;
}

static uint64_t attr_u64(json_t *msg, const char *name)
{
    const char *v = json_string_value(json_object_get(json_object_get(msg, "attributes"), name));
    return v ? strtoull(v, NULL, 10) : 0;
}

/* Moves what is due from NAME-delay to NAME; hides the rest until due. */
static int poll_delayed(ps *p)
{
    char delay[NAME_MAX_LEN + 16];
    json_t *resp = NULL;
    uint64_t now = kumo__aws_now_ms();
    if (p->topic || now - p->last_delay_poll < DELAY_POLL_MS)
        return 0;
    p->last_delay_poll = now;
    snprintf(delay, sizeof(delay), "%s-delay", p->name);
    int rc = call(p, "subscriptions", delay, "pull",
                  json_pack("{s:i, s:b}", "maxMessages", 100, "returnImmediately", 1), &resp);
    if (rc != 0)
        return rc;
    size_t i;
    json_t *rm;
    json_array_foreach(json_object_get(resp, "receivedMessages"), i, rm)
    {
        json_t *msg = json_object_get(rm, "message");
        json_t *ack = json_object_get(rm, "ackId");
        uint64_t due = attr_u64(msg, ATTR_NOT_BEFORE);
        if (!json_is_string(ack))
            continue;
        if (due > now) {
            rc = mod_ack(p, delay, json_pack("[O]", ack), ceil_seconds(due - now));
        } else {
            json_t *attrs = carried_attrs(msg);
            if (attrs)
                json_object_del(attrs, ATTR_NOT_BEFORE);
            const char *data = json_string_value(json_object_get(msg, "data"));
            rc = publish(p, p->name, data ? data : "", attrs, NULL, NULL);
            if (rc == 0)
                rc = ack_ids(p, delay, json_pack("[O]", ack));
        }
        if (rc != 0)
            break;
    }
    json_decref(resp);
    return rc;
}

/* ---- the driver ----------------------------------------------------------------- */

static void ps_close(kumo__store *s)
{
    ps *p = (ps *)s;
    /* (the name store.c gave, when it did, is store.c's to free) */
    if (p == NULL)
        return;
    kumo__gcp_free(p->g);
    free(p->name);
    free(p->topic);
    free(p->root);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Pub/Sub's rule for names: a letter, then letters, digits, - _ . ~ + %. */
static int valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 3 || len > NAME_MAX_LEN || !((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z')))
        return 0;
    if (strncmp(n, "goog", 4) == 0)
        return 0;
    return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+%") == len;
}

/* A handle on queue `name` (a subscription of `topic` when not NULL) with
 * the parsed URL u's project and endpoint. */
static int open_named(kumo__gcp_url *u, const char *name, const char *topic, ps **out, kumo__error *e)
{
    int rc;
    *out = NULL;
    ps *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    if (*u->path || !valid_name(name)) {
        kumo__error_set(e, KUMO_EINVAL,
                        "pubsub store URL: '%s' is not a Pub/Sub topic name (3 to %d characters, a letter first, "
                        "then letters, digits and - _ . ~ + %%; no path)",
                        name, NAME_MAX_LEN);
        rc = KUMO_EINVAL;
        goto out;
    }
    if ((p->name = strdup(name)) == NULL || (topic && (p->topic = strdup(topic)) == NULL)) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = kumo__gcp_new("pubsub", u, "https://pubsub.googleapis.com", p->base.error, sizeof(p->base.error), &p->g, e);
out:
    if (rc != 0)
        ps_close(&p->base.store);
    else
        *out = p;
    return rc;
}

static int ps_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__gcp_url u;
    ps *p = NULL;
    (void)name;
    *out = NULL;
    int rc = kumo__gcp_url_parse(url, "pubsub", known, "PUBSUB_EMULATOR_HOST", &u, e);
    if (rc != 0)
        return rc;
    rc = open_named(&u, u.resource, NULL, &p, e);
    if (rc == 0)
        *out = &p->base.store;
    kumo__gcp_url_free(&u);
    return rc;
}

int kumo__pubsub_subscription_open(const char *url, const char *topic, const char *sub, kumo__queue **out,
                                   kumo__error *e)
{
    kumo__gcp_url u;
    ps *p = NULL;
    char mr[16];
    *out = NULL;
    int rc = kumo__gcp_url_parse(url, "pubsub", known, "PUBSUB_EMULATOR_HOST", &u, e);
    if (rc != 0)
        return rc;
    rc = open_named(&u, sub, topic, &p, e);
    kumo__gcp_url_free(&u);
    if (rc != 0)
        return rc;
    p->base.driver = &kumo__queue_pubsub_driver;
    p->base.max_receives = 5;
    if (kumo__url_query(url, "max_receives", mr, sizeof(mr))) {
        unsigned long v = strtoul(mr, NULL, 10);
        if (v >= 1 && v <= 1000)
            p->base.max_receives = (unsigned)v;
    }
    if ((p->base.name = strdup(sub)) == NULL) {
        ps_close(&p->base.store);
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    *out = &p->base;
    return 0;
}

static int ps_send(kumo__queue *q, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char *trace,
                   const char **id)
{
    ps *p = (ps *)q;
    char sent[24], due[24], delay[NAME_MAX_LEN + 16];
    if (p->topic) {
        snprintf(q->error, sizeof(q->error), "pubsub: '%s' is a subscription of the topic '%s': publish to the topic",
                 p->name, p->topic);
        return KUMO_EINVAL;
    }
    uint64_t now = kumo__aws_now_ms();
    char *data = kumo__aws_b64_encode(body, len);
    snprintf(sent, sizeof(sent), "%llu", (unsigned long long)now);
    json_t *attrs = json_pack("{s:s}", ATTR_SENT, sent);
    if (data == NULL || attrs == NULL) {
        free(data);
        json_decref(attrs);
        return KUMO_ENOMEM;
    }
    if (trace && *trace)
        json_object_set_new(attrs, ATTR_TRACE, json_string(trace));
    if (delay_ms) {
        snprintf(due, sizeof(due), "%llu", (unsigned long long)(now + delay_ms));
        json_object_set_new(attrs, ATTR_NOT_BEFORE, json_string(due));
    }
    snprintf(delay, sizeof(delay), "%s-delay", p->name);
    pthread_mutex_lock(&p->lock);
    int rc = publish(p, delay_ms ? delay : p->name, data, attrs, id, a);
    pthread_mutex_unlock(&p->lock);
    free(data);
    return rc;
}

static int ps_receive(kumo__queue *q, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                      size_t *count)
{
    ps *p = (ps *)q;
    char dead[NAME_MAX_LEN + 16];
    json_t *resp = NULL, *hide = json_array();
    size_t n = 0;
    *count = 0;
    if (hide == NULL)
        return KUMO_ENOMEM;
    snprintf(dead, sizeof(dead), "%s-dead", p->name);
    pthread_mutex_lock(&p->lock);
    int rc = poll_delayed(p);
    if (rc == 0)
        rc = call(p, "subscriptions", p->name, "pull",
                  json_pack("{s:I, s:b}", "maxMessages", (json_int_t)max, "returnImmediately", 1), &resp);
    size_t i;
    json_t *rm;
    json_array_foreach(json_object_get(resp, "receivedMessages"), i, rm)
    {
        if (rc != 0)
            break;
        json_t *msg = json_object_get(rm, "message");
        json_t *ack = json_object_get(rm, "ackId");
        json_int_t attempt = json_integer_value(json_object_get(rm, "deliveryAttempt"));
        const char *data = json_string_value(json_object_get(msg, "data"));
        if (!json_is_string(ack) || n == max)
            continue;
        if (attempt > (json_int_t)q->max_receives) {
            /* received max_receives times already: to the dead letters */
            rc = publish(p, dead, data ? data : "", carried_attrs(msg), NULL, NULL);
            if (rc == 0)
                rc = ack_ids(p, p->name, json_pack("[O]", ack));
            continue;
        }
        kumo_queue_message *m = &out[n];
        memset(m, 0, sizeof(*m));
        size_t dlen = data ? strlen(data) : 0;
        char *body = kumo__arena_alloc(a, dlen / 4 * 3 + 4);
        long got = body ? (dlen ? kumo__aws_b64_decode(data, dlen, (unsigned char *)body) : 0) : -1;
        json_t *attrs = json_object_get(msg, "attributes");
        const char *mid = json_string_value(json_object_get(attrs, ATTR_ID));
        if (mid == NULL)
            mid = json_string_value(json_object_get(msg, "messageId"));
        const char *receipt = json_string_value(ack);
        m->id = mid ? kumo__arena_strndup(a, mid, strlen(mid)) : NULL;
        m->receipt = kumo__arena_strndup(a, receipt, strlen(receipt));
        if (got < 0 || m->id == NULL || m->receipt == NULL) {
            rc = body && m->id && m->receipt ? KUMO_EIO : KUMO_ENOMEM;
            if (rc == KUMO_EIO)
                snprintf(q->error, sizeof(q->error), "pubsub: a message whose data is not base64");
            break;
        }
        body[got] = '\0';
        m->body = body;
        m->len = (size_t)got;
        m->receives = attempt > 0 ? (unsigned)attempt : 1;
        uint64_t sent = attr_u64(msg, ATTR_SENT);
        m->sent_ms =
            sent ? (int64_t)sent
                 : (int64_t)(kumo__gcp_time_parse(json_string_value(json_object_get(msg, "publishTime"))) / 1000000ull);
        json_t *tp = json_object_get(attrs, ATTR_TRACE);
        m->trace = json_is_string(tp) ? kumo__queue_trace_copy(a, json_string_value(tp), json_string_length(tp)) : NULL;
        json_array_append(hide, ack);
        n++;
    }
    /* the pull hid them for the subscription's ack deadline; another
     * visibility is one more call */
    if (rc == 0 && json_array_size(hide) && ceil_seconds(visibility_ms) != ACK_DEADLINE_S)
        rc = mod_ack(p, p->name, json_incref(hide), visibility_ms ? ceil_seconds(visibility_ms) : ACK_DEADLINE_S);
    pthread_mutex_unlock(&p->lock);
    json_decref(hide);
    json_decref(resp);
    if (rc == 0)
        *count = n;
    return rc;
}

/* A receipt Pub/Sub refuses is one kumo does not know. */
static int receipt_rc(int rc)
{
    return rc == KUMO_EINVAL ? KUMO_ENOTFOUND : rc;
}

static int ps_ack(kumo__queue *q, const char *receipt)
{
    ps *p = (ps *)q;
    pthread_mutex_lock(&p->lock);
    int rc = ack_ids(p, p->name, json_pack("[s]", receipt));
    pthread_mutex_unlock(&p->lock);
    return receipt_rc(rc);
}

static int ps_nack(kumo__queue *q, const char *receipt, uint64_t delay_ms)
{
    ps *p = (ps *)q;
    pthread_mutex_lock(&p->lock);
    int rc = mod_ack(p, p->name, json_pack("[s]", receipt), ceil_seconds(delay_ms));
    pthread_mutex_unlock(&p->lock);
    return receipt_rc(rc);
}

const kumo__queue_driver kumo__queue_pubsub_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION, .scheme = "pubsub", .open = ps_open, .close = ps_close},
    .send = ps_send,
    .receive = ps_receive,
    .ack = ps_ack,
    .nack = ps_nack,
    .limits = KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED, /* Pub/Sub's own semantics: docs/stores-gcp.md */
};
