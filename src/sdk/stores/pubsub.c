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
 *
 * wait: a long poll, a pull of one message with returnImmediately false,
 * which Pub/Sub answers when a message comes. It runs on a thread of its
 * own, over a client of its own (wg), and is never given up when wait's
 * timeout passes: the emulator (checked with curl against
 * `gcloud beta emulators pubsub start`) honours the long poll but keeps a
 * pull whose client went away, and hands the next message to it, hidden
 * for the ack deadline and counted as a delivery. Had wait abandoned its
 * pull at each timeout (the gateway's consumer waits 100 ms at a time),
 * every message would be lost that way for 30 s. So a wait that times out
 * leaves the pull running and the next wait waits for the same pull; only
 * the exchange's own bound (PULL_TIMEOUT_MS) gives one up. A close leaves
 * a running pull to its thread, which frees the handle when it answers and
 * gives back what it got (ack deadline 0: delivered again at once, one
 * delivery counted); a close gives back the stash the same way. What
 * the pull gets is stashed and is the next receive's answer, handled as a
 * pulled message is (max_receives, dead letters) and hidden for that
 * receive's visibility with modifyAckDeadline; a stashed message older
 * than STASH_KEEP_MS is dropped instead (its ack deadline is near: Pub/Sub
 * delivers it again).
 *
 * depth: none (NULL). Pub/Sub's API does not count a subscription's
 * messages; the count is a Cloud Monitoring metric
 * (subscription/num_undelivered_messages), which the emulator does not have.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"
#include "sdk/stores/gcp.h"

#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_LEN 200 /* Pub/Sub's 255, less "-dead-dead-delay" */
#define ACK_DEADLINE_S 30
#define ACK_DEADLINE_MAX_S 600
#define DLP_MAX_ATTEMPTS 100
#define DELAY_POLL_MS 250
#define URL_MAX 1024
#define PULL_TIMEOUT_MS 600000           /* the wait pull's exchange (the emulator holds an idle one for ever) */
#define PULL_BODY_MAX ((size_t)32 << 20) /* one message of at most 10 MB, base64, with attributes */
#define STASH_KEEP_MS 15000              /* half the ack deadline a pull gives */
#define ATTR_PULLED "kumo-pulled"        /* in a stashed receivedMessage: when the wait pull got it (mono ms) */
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
    /* wait's pull (see the top): its thread and this state */
    kumo__gcp *wg;         /* wait's client, used by the pull thread only */
    char wait_msg[256];    /* wg's messages */
    pthread_mutex_t wlock; /* guards the fields below; taken after lock, never before */
    pthread_cond_t wcond;  /* signalled when a pull ends */
    int pulling;           /* a pull thread runs */
    int orphaned;          /* closed while pulling: that thread frees the handle */
    int wait_rc;           /* the last pull's failure, for the next wait */
    json_t *stash;         /* receivedMessages the pulls got, each with ATTR_PULLED */
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

static void ps_free(ps *p)
{
    /* (the name store.c gave, when it did, is store.c's to free) */
    kumo__gcp_free(p->g);
    kumo__gcp_free(p->wg);
    json_decref(p->stash);
    free(p->name);
    free(p->topic);
    free(p->root);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->wlock);
    pthread_cond_destroy(&p->wcond);
    free(p);
}

static int mod_ack(ps *p, const char *sub, json_t *ids, long seconds);

/* The ackIds of the receivedMessages in stash, as a new array. */
static json_t *stash_ids(json_t *stash)
{
    json_t *ids = json_array(), *rm;
    size_t i;
    json_array_foreach(stash, i, rm)
    {
        json_t *ack = json_object_get(rm, "ackId");
        if (ids && json_is_string(ack))
            json_array_append(ids, ack);
    }
    return ids;
}

/* A close while wait's pull runs leaves the handle to that thread, which
 * frees it when the pull ends (it cannot be stopped sooner: see the top).
 * What the stash holds is given back (ack deadline 0), so that it is
 * delivered again now rather than when its deadline passes. */
static void ps_close(kumo__store *s)
{
    ps *p = (ps *)s;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->wlock);
    int pulling = p->pulling;
    p->orphaned = pulling;
    json_t *ids = pulling || json_array_size(p->stash) == 0 ? NULL : stash_ids(p->stash);
    pthread_mutex_unlock(&p->wlock);
    if (pulling)
        return;
    if (json_array_size(ids) > 0) {
        pthread_mutex_lock(&p->lock);
        (void)mod_ack(p, p->name, json_incref(ids), 0); /* best effort: else the deadline passes */
        pthread_mutex_unlock(&p->lock);
    }
    json_decref(ids);
    ps_free(p);
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
    pthread_condattr_t ca;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->wlock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wcond, &ca);
    pthread_condattr_destroy(&ca);
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
    if (rc == 0)
        rc = kumo__gcp_new("pubsub", u, "https://pubsub.googleapis.com", p->wait_msg, sizeof(p->wait_msg), &p->wg, e);
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

/* Moves up to max of the stash (those pulled less than STASH_KEEP_MS ago;
 * older ones are dropped) into a new {"receivedMessages": [...]} in *out:
 * 1 when it had any, else 0 and *out untouched. Lock held. */
static int take_stash(ps *p, size_t max, json_t **out)
{
    uint64_t now = kumo__mono_ms();
    json_t *got = NULL;
    if (max == 0)
        return 0;
    pthread_mutex_lock(&p->wlock);
    while (json_array_size(p->stash) > 0) {
        json_t *rm = json_incref(json_array_get(p->stash, 0));
        json_array_remove(p->stash, 0);
        uint64_t pulled = (uint64_t)json_integer_value(json_object_get(rm, ATTR_PULLED));
        if (now - pulled < STASH_KEEP_MS && (got || (got = json_array()) != NULL) && json_array_size(got) < max)
            json_array_append(got, rm);
        json_decref(rm);
        if (got && json_array_size(got) == max)
            break;
    }
    pthread_mutex_unlock(&p->wlock);
    if (got == NULL || json_array_size(got) == 0) {
        json_decref(got);
        return 0;
    }
    *out = json_pack("{s:o}", "receivedMessages", got);
    return *out != NULL;
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
    /* What wait's pull got is this receive's answer (as sqs.c's stash). */
    int stashed = rc == 0 && take_stash(p, max, &resp);
    if (rc == 0 && !stashed)
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
    /* the pull hid them for the subscription's ack deadline from when it
     * got them (a stashed one: some time ago); another visibility, or a
     * deadline counted from now, is one more call */
    if (rc == 0 && json_array_size(hide) && (stashed || ceil_seconds(visibility_ms) != ACK_DEADLINE_S))
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

/* ---- wait ---------------------------------------------------------------------- */

typedef struct pull_job {
    ps *p;
    char *url; /* ROOT/subscriptions/NAME (":pull" is added) */
} pull_job;

/* Gives back what the pull of a closed handle got (ack deadline 0), over
 * the wait client: delivered again now, not in 30 s. Best effort. */
static void give_back(pull_job *j, json_t *resp)
{
    char url[URL_MAX + 32];
    kumo__cloud_res res;
    json_t *ids = stash_ids(json_object_get(resp, "receivedMessages"));
    json_t *req = json_array_size(ids) ? json_pack("{s:O, s:i}", "ackIds", ids, "ackDeadlineSeconds", 0) : NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    const char *h[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof(url), "%s:modifyAckDeadline", j->url);
    if (body) {
        (void)kumo__gcp_send(j->p->wg, "POST", url, h, body, strlen(body), PULL_BODY_MAX, 0, &res);
        kumo__cloud_res_free(&res);
    }
    free(body);
    json_decref(req);
    json_decref(ids);
}

/* One long pull (see the top): what it gets goes to the stash, a failure
 * to wait_rc; then the waiters are woken, and a closed handle freed. */
static void *pull_thread(void *arg)
{
    pull_job *j = arg;
    ps *p = j->p;
    kumo__cloud_res res;
    json_t *resp = NULL;
    static const char body[] = "{\"maxMessages\":1,\"returnImmediately\":false}";
    const char *h[] = {"Content-Type: application/json", NULL};
    char url[URL_MAX + 8];
    snprintf(url, sizeof(url), "%s:pull", j->url);
    int rc = kumo__gcp_send(p->wg, "POST", url, h, body, sizeof(body) - 1, PULL_BODY_MAX, PULL_TIMEOUT_MS, &res);
    if (rc == 0) {
        json_error_t je;
        resp = res.len ? json_loadb(res.body, res.len, 0, &je) : json_object();
        if (resp == NULL) {
            snprintf(p->wait_msg, sizeof(p->wait_msg), "pubsub: a pull answered JSON that does not parse: %s", je.text);
            rc = KUMO_EIO;
        }
    }
    kumo__cloud_res_free(&res);
    /* NOT_FOUND: the subscription is gone (a restarted emulator); the
     * receive that follows makes it again. The exchange's own bound: a
     * wake-up with nothing. Neither stops waiting. */
    if (rc == KUMO_ENOTFOUND || rc == KUMO_ETIMEDOUT)
        rc = 0;
    uint64_t now = kumo__mono_ms();
    pthread_mutex_lock(&p->wlock);
    if (p->orphaned) {
        /* closed meanwhile: nobody will receive these; nor wait on wlock */
        pthread_mutex_unlock(&p->wlock);
        give_back(j, resp);
        json_decref(resp);
        free(j->url);
        free(j);
        ps_free(p);
        return NULL;
    }
    size_t i;
    json_t *rm;
    json_array_foreach(json_object_get(resp, "receivedMessages"), i, rm)
    {
        if (rc == 0 && p->stash == NULL && (p->stash = json_array()) == NULL)
            rc = KUMO_ENOMEM;
        if (rc != 0 || json_object_set_new(rm, ATTR_PULLED, json_integer((json_int_t)now)) != 0 ||
            json_array_append(p->stash, rm) != 0) {
            /* not kept: Pub/Sub delivers it again after the ack deadline */
            if (rc == 0)
                snprintf(p->wait_msg, sizeof(p->wait_msg), "out of memory");
            rc = rc ? rc : KUMO_ENOMEM;
        }
    }
    p->wait_rc = rc;
    p->pulling = 0;
    pthread_cond_broadcast(&p->wcond);
    pthread_mutex_unlock(&p->wlock);
    json_decref(resp);
    free(j->url);
    free(j);
    return NULL;
}

static int ps_wait(kumo__queue *q, uint64_t timeout_ms)
{
    ps *p = (ps *)q;
    char url[URL_MAX];
    pthread_mutex_lock(&p->lock);
    int rc = ensure(p);
    if (rc == 0)
        snprintf(url, sizeof(url), "%s/subscriptions/%s", p->root, p->name);
    pthread_mutex_unlock(&p->lock);
    if (rc != 0)
        return rc;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(timeout_ms / 1000);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->wlock);
    if (json_array_size(p->stash) == 0 && p->wait_rc == 0 && !p->pulling) {
        pull_job *j = malloc(sizeof(*j));
        pthread_t t;
        pthread_attr_t attr;
        if (j == NULL || (j->url = strdup(url)) == NULL) {
            free(j);
            snprintf(q->error, sizeof(q->error), "out of memory");
            rc = KUMO_ENOMEM;
            goto out;
        }
        j->p = p;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&t, &attr, pull_thread, j);
        pthread_attr_destroy(&attr);
        if (err != 0) {
            free(j->url);
            free(j);
            snprintf(q->error, sizeof(q->error), "pubsub: cannot start wait's pull thread: %s", strerror(err));
            rc = KUMO_EIO;
            goto out;
        }
        p->pulling = 1;
    }
    while (p->pulling && json_array_size(p->stash) == 0)
        if (pthread_cond_timedwait(&p->wcond, &p->wlock, &until) == ETIMEDOUT)
            break;
    if (p->wait_rc != 0) {
        rc = p->wait_rc;
        p->wait_rc = 0;
        snprintf(q->error, sizeof(q->error), "%s", p->wait_msg);
    }
out:
    pthread_mutex_unlock(&p->wlock);
    return rc;
}

const kumo__queue_driver kumo__queue_pubsub_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION, .scheme = "pubsub", .open = ps_open, .close = ps_close},
    .send = ps_send,
    .receive = ps_receive,
    .ack = ps_ack,
    .nack = ps_nack,
    .wait = ps_wait,
    .limits = KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED, /* Pub/Sub's own semantics: docs/stores-gcp.md */
};
