/*
 * pubsub_topic.c: the topic driver for Pub/Sub, `pubsub://TOPIC?project=P&
 * endpoint=URL&max_receives=N`, over gcp.c; its subscriptions' queues are
 * pubsub.c's.
 *
 * The topic is the Pub/Sub topic TOPIC (made on first use, and again when a
 * publish finds it gone). A subscription EVENT is the pull subscription
 * TOPIC.EVENT of that topic, with pubsub.c's dead-letter policy (to the
 * topic TOPIC.EVENT-dead, whose subscription TOPIC.EVENT-dead holds the dead
 * letters, itself a queue) and the label kumo-owner naming the project that
 * registered it (lower case, characters outside [a-z0-9_-] as '_', at most
 * 63: Pub/Sub's rule for label values). Publishing is one Pub/Sub publish:
 * Pub/Sub gives it to every subscription the topic has at that moment
 * (and drops it when there is none), which is the fan-out kumo promises.
 * The body is the message's data (any bytes); the publisher's traceparent
 * travels in the attribute traceparent, the send time in kumo-sent.
 *
 * subscribe makes the subscription (an existing one keeps its messages; a
 * new owner is written into its label); unsubscribe deletes it, and with
 * it, unlike the other drivers, the messages still waiting in it (Pub/Sub
 * keeps no messages for a deleted subscription; docs/stores-gcp.md). list
 * reads the topic's subscriptions, then each one's label for its owner.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"
#include "sdk/stores/gcp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 1024
#define SUBS_MAX 1000
#define LABEL "kumo-owner"
#define ACK_DEADLINE_S 30
#define DLP_MAX_ATTEMPTS 100

static const char *const known[] = {"project", "endpoint", "max_receives", NULL};

typedef struct pst {
    kumo__topic base;
    pthread_mutex_t lock; /* guards g, root, ready */
    kumo__gcp *g;
    char *topic;
    char *url;  /* the store's URL: its subscriptions' queues open with it */
    char *root; /* BASE/v1/projects/P */
    int ready;  /* the topic is known to exist */
} pst;

static const char *root_url(pst *t)
{
    if (t->root)
        return t->root;
    const char *project = kumo__gcp_project(t->g);
    if (project && asprintf(&t->root, "%s/v1/projects/%s", kumo__gcp_base(t->g), project) < 0)
        t->root = NULL;
    return t->root;
}

/* PUT a topic or subscription; one that exists is fine. Takes body. */
static int put_resource(pst *t, const char *kind, const char *name, json_t *body)
{
    char url[URL_MAX];
    json_t *resp = NULL;
    snprintf(url, sizeof(url), "%s/%s/%s", t->root, kind, name);
    int rc = kumo__gcp_json(t->g, "PUT", url, body ? body : json_object(), &resp);
    json_decref(resp);
    return rc;
}

static int ensure_topic(pst *t)
{
    if (t->ready)
        return 0;
    if (root_url(t) == NULL)
        return KUMO_EINVAL;
    int rc = put_resource(t, "topics", t->topic, NULL);
    /* made already; or a role that may publish but not make topics */
    if (rc == KUMO_ECONFLICT || (rc != 0 && strcmp(kumo__gcp_status(t->g), "PERMISSION_DENIED") == 0))
        rc = 0;
    if (rc == 0) {
        t->ready = 1;
        *t->base.error = '\0';
    }
    return rc;
}

/* The label value of an owner. */
static void owner_label(const char *owner, char *out, size_t size)
{
    size_t w = 0;
    for (const char *c = owner; *c && w + 1 < size && w < 63; c++) {
        char ch = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        out[w++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ? ch : '_';
    }
    out[w] = '\0';
}

/* "projects/P/topics/NAME" */
static void topic_path(pst *t, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/topics/%s", strstr(t->root, "projects/"), name);
}

/* ---- the driver ------------------------------------------------------------- */

static void pst_close(kumo__store *s)
{
    pst *t = (pst *)s;
    if (t == NULL)
        return;
    kumo__gcp_free(t->g);
    free(t->topic);
    free(t->url);
    free(t->root);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int pst_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__gcp_url u;
    (void)name;
    *out = NULL;
    int rc = kumo__gcp_url_parse(url, "pubsub", known, "PUBSUB_EMULATOR_HOST", &u, e);
    if (rc != 0)
        return rc;
    pst *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&t->lock, NULL);
    size_t n = strlen(u.resource);
    if (*u.path || n < 3 || n > 200 ||
        strspn(u.resource, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == 0 ||
        strspn(u.resource, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != n) {
        kumo__error_set(e, KUMO_EINVAL,
                        "pubsub topic URL: '%s' cannot be a topic with subscriptions TOPIC.EVENT (3 to 200 "
                        "characters, a letter first, then letters, digits, - and _)",
                        u.resource);
        rc = KUMO_EINVAL;
        goto out;
    }
    t->topic = u.resource;
    u.resource = NULL;
    if ((t->url = strdup(url)) == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = kumo__gcp_new("pubsub", &u, "https://pubsub.googleapis.com", t->base.error, sizeof(t->base.error), &t->g, e);
    if (rc == 0)
        *out = &t->base.store;
out:
    if (rc != 0)
        pst_close(t ? &t->base.store : NULL);
    kumo__gcp_url_free(&u);
    return rc;
}

static int pst_publish(kumo__topic *kt, kumo__arena *a, const void *data, size_t len, const char *trace,
                       const char **id)
{
    pst *t = (pst *)kt;
    char url[URL_MAX], sent[24];
    json_t *resp = NULL;
    char *d64 = kumo__aws_b64_encode(data, len);
    snprintf(sent, sizeof(sent), "%llu", (unsigned long long)kumo__aws_now_ms());
    json_t *attrs = json_pack("{s:s}", "kumo-sent", sent);
    if (attrs && trace && *trace)
        json_object_set_new(attrs, "traceparent", json_string(trace));
    json_t *req = d64 && attrs ? json_pack("{s:[{s:s, s:o}]}", "messages", "data", d64, "attributes", attrs) : NULL;
    free(d64);
    if (req == NULL)
        return KUMO_ENOMEM;
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    for (int tries = 0; rc == 0 && tries < 2; tries++) {
        snprintf(url, sizeof(url), "%s/topics/%s:publish", t->root, t->topic);
        json_incref(req);
        rc = kumo__gcp_json(t->g, "POST", url, req, &resp);
        if (rc != KUMO_ENOTFOUND || tries == 1)
            break;
        t->ready = 0; /* deleted, or the emulator restarted: make it again */
        rc = ensure_topic(t);
    }
    pthread_mutex_unlock(&t->lock);
    json_decref(req);
    if (rc == 0) {
        const char *mid = json_string_value(json_array_get(json_object_get(resp, "messageIds"), 0));
        *id = mid ? kumo__arena_strndup(a, mid, strlen(mid)) : NULL;
        if (*id == NULL)
            rc = KUMO_ENOMEM;
    }
    json_decref(resp);
    return rc;
}

static int pst_subscribe(kumo__topic *kt, const char *event, const char *owner)
{
    pst *t = (pst *)kt;
    char sub[KUMO__TOPIC_QUEUE_MAX], dead[KUMO__TOPIC_QUEUE_MAX + 8], dead2[KUMO__TOPIC_QUEUE_MAX + 16];
    char label[64], topic[URL_MAX], dtopic[URL_MAX], d2topic[URL_MAX], url[URL_MAX];
    if (kumo__topic_subscription_queue(t->topic, event, sub, sizeof(sub)) != 0)
        return KUMO_EINVAL;
    snprintf(dead, sizeof(dead), "%s-dead", sub);
    snprintf(dead2, sizeof(dead2), "%s-dead-dead", sub);
    owner_label(owner, label, sizeof(label));
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    if (rc != 0)
        goto out;
    topic_path(t, t->topic, topic, sizeof(topic));
    topic_path(t, dead, dtopic, sizeof(dtopic));
    topic_path(t, dead2, d2topic, sizeof(d2topic));
    /* the dead letters first: a subscription's policy names its topic */
    const char *topics[] = {dead, dead2};
    for (size_t i = 0; i < 2 && rc == 0; i++)
        if ((rc = put_resource(t, "topics", topics[i], NULL)) == KUMO_ECONFLICT)
            rc = 0;
    if (rc == 0 && (rc = put_resource(t, "subscriptions", dead,
                                      json_pack("{s:s, s:i, s:{s:s, s:i}}", "topic", dtopic, "ackDeadlineSeconds",
                                                ACK_DEADLINE_S, "deadLetterPolicy", "deadLetterTopic", d2topic,
                                                "maxDeliveryAttempts", DLP_MAX_ATTEMPTS))) == KUMO_ECONFLICT)
        rc = 0;
    if (rc != 0)
        goto out;
    rc = put_resource(t, "subscriptions", sub,
                      json_pack("{s:s, s:i, s:{s:s, s:i}, s:{s:s}}", "topic", topic, "ackDeadlineSeconds",
                                ACK_DEADLINE_S, "deadLetterPolicy", "deadLetterTopic", dtopic, "maxDeliveryAttempts",
                                DLP_MAX_ATTEMPTS, "labels", LABEL, label));
    if (rc == KUMO_ECONFLICT) {
        /* registered already: the last to register owns it */
        json_t *have = NULL;
        snprintf(url, sizeof(url), "%s/subscriptions/%s", t->root, sub);
        rc = kumo__gcp_json(t->g, "GET", url, NULL, &have);
        const char *was = json_string_value(json_object_get(json_object_get(have, "labels"), LABEL));
        if (rc == 0 && (was == NULL || strcmp(was, label) != 0)) {
            json_t *resp = NULL;
            rc = kumo__gcp_json(
                t->g, "PATCH", url,
                json_pack("{s:{s:{s:s}}, s:s}", "subscription", "labels", LABEL, label, "updateMask", "labels"), &resp);
            json_decref(resp);
        }
        json_decref(have);
    }
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int pst_unsubscribe(kumo__topic *kt, const char *event)
{
    pst *t = (pst *)kt;
    char sub[KUMO__TOPIC_QUEUE_MAX], url[URL_MAX];
    json_t *resp = NULL;
    if (kumo__topic_subscription_queue(t->topic, event, sub, sizeof(sub)) != 0)
        return KUMO_EINVAL;
    pthread_mutex_lock(&t->lock);
    int rc = root_url(t) ? 0 : KUMO_EINVAL;
    if (rc == 0) {
        snprintf(url, sizeof(url), "%s/subscriptions/%s", t->root, sub);
        rc = kumo__gcp_json(t->g, "DELETE", url, NULL, &resp);
        json_decref(resp);
        if (rc == KUMO_ENOTFOUND) { /* not subscribed: not an error */
            rc = 0;
            *t->base.error = '\0';
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int pst_list(kumo__topic *kt, kumo__arena *a, const char *owner, const char ***names, size_t *n)
{
    pst *t = (pst *)kt;
    char url[URL_MAX], label[64], prefix[URL_MAX];
    json_t *resp = NULL;
    *names = NULL;
    *n = 0;
    if (owner)
        owner_label(owner, label, sizeof(label));
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    if (rc != 0)
        goto out;
    snprintf(url, sizeof(url), "%s/topics/%s/subscriptions?pageSize=%d", t->root, t->topic, SUBS_MAX);
    if ((rc = kumo__gcp_json(t->g, "GET", url, NULL, &resp)) != 0)
        goto out;
    json_t *subs = json_object_get(resp, "subscriptions");
    const char **out = kumo__arena_alloc(a, (json_array_size(subs) + 1) * sizeof(*out));
    if (out == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    snprintf(prefix, sizeof(prefix), "%s/subscriptions/%s.", strstr(t->root, "projects/"), t->topic);
    size_t i, count = 0, plen = strlen(prefix);
    json_t *s;
    json_array_foreach(subs, i, s)
    {
        const char *full = json_string_value(s);
        if (full == NULL || strncmp(full, prefix, plen) != 0)
            continue;
        const char *event = full + plen;
        char check[KUMO__TOPIC_QUEUE_MAX];
        if (kumo__topic_subscription_queue(t->topic, event, check, sizeof(check)) != 0)
            continue; /* not one of kumo's */
        if (owner) {
            json_t *sub = NULL;
            snprintf(url, sizeof(url), "%s/subscriptions/%s.%s", t->root, t->topic, event);
            rc = kumo__gcp_json(t->g, "GET", url, NULL, &sub);
            const char *was = json_string_value(json_object_get(json_object_get(sub, "labels"), LABEL));
            int mine = was && strcmp(was, label) == 0;
            json_decref(sub);
            if (rc == KUMO_ENOTFOUND) { /* removed meanwhile */
                rc = 0;
                continue;
            }
            if (rc != 0)
                goto out;
            if (!mine)
                continue;
        }
        if ((out[count++] = kumo__arena_strndup(a, event, strlen(event))) == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    qsort(out, count, sizeof(*out), cmp_names);
    *names = out;
    *n = count;
out:
    pthread_mutex_unlock(&t->lock);
    json_decref(resp);
    return rc;
}

static int pst_open_subscription(kumo__topic *kt, const char *event, kumo__queue **out, kumo__error *e)
{
    pst *t = (pst *)kt;
    char sub[KUMO__TOPIC_QUEUE_MAX];
    if (kumo__topic_subscription_queue(t->topic, event, sub, sizeof(sub)) != 0) {
        kumo__error_set(e, KUMO_EINVAL, "subscription '%s' of topic '%s' is not a queue name", event, t->topic);
        return KUMO_EINVAL;
    }
    return kumo__pubsub_subscription_open(t->url, t->topic, sub, out, e);
}

const kumo__topic_driver kumo__topic_pubsub_driver = {
    .common = {.version = KUMO__TOPIC_DRIVER_VERSION, .scheme = "pubsub", .open = pst_open, .close = pst_close},
    .publish = pst_publish,
    .subscribe = pst_subscribe,
    .unsubscribe = pst_unsubscribe,
    .list = pst_list,
    .open_subscription = pst_open_subscription,
};
