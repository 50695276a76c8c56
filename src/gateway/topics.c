/*
 * topics.c: the subscriptions of kumo.yaml's topic events (events: NAME:
 * {topic: TOPIC}) under kumo up.
 *
 * A topic fans each message out to the subscriptions registered with its
 * driver when the message is published (sdk/stores/topic.c). The gateway
 * registers them: each generation, once built and before it goes live
 * (start-up and every reload, on the main thread), makes the topic's set
 * of subscriptions the generation's exactly:
 *  - every topic event is subscribed (idempotent: a subscription that is
 *    there stays, with what waits in its queue);
 *  - a subscription this project registered (its owner is the project's
 *    name) that no event of kumo.yaml names any more (the event was
 *    removed or renamed) is unsubscribed: nothing
 *    published from then on reaches it. What already waits in its queue
 *    TOPIC.EVENT (and its dead letters TOPIC.EVENT-dead) is kept, never
 *    deleted by an edit of kumo.yaml: an event that comes back under the
 *    same name finds it and is handed it, and the queue can be read or
 *    drained with the queue tools meanwhile. A line says so.
 * Subscriptions registered by another project sharing the topic (a
 * producer project and a consumer project on one Redis) are never
 * touched. A topic dropped from stores: altogether is not opened, so its
 * subscriptions stay as they were.
 *
 * Messages published before a subscription was registered never reach it
 * (as with SNS or Pub/Sub): start kumo up, then publish.
 *
 * Each topic event is then consumed by consumer.c like a queue event: its
 * thread opens the subscription's queue through the topic's driver
 * (kumo__gw_topic_queue_open) instead of a queue store.
 */
#include "gateway/gateway_internal.h"

#include "sdk/sdk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Opens topic store `name` from the plan; NULL with err set. */
static kumo__topic *open_topic(const kumo__store_plan *plan, const char *name, kumo__error *err)
{
    const kumo__store_place *place = kumo__store_plan_find(plan, name);
    if (place == NULL) {
        kumo__error_set(err, -ENOENT, "topic '%s' is not in the store plan", name);
        return NULL;
    }
    kumo__store *s = NULL;
    kumo__error e = {0};
    if (kumo__store_open(&kumo__topic_kind, place->url, name, &s, &e) != 0) {
        kumo__error_set(err, -EIO, "topic '%s' (%s) cannot be opened: %s", name, place->shown, e.msg);
        return NULL;
    }
    return (kumo__topic *)s; /* a kumo__topic starts with its kumo__store */
}

/* Whether p has a topic event `event` on topic `topic`. */
static int declared(const kumo__project *p, const char *topic, const char *event)
{
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *d = &p->events[i];
        if (d->kind == KUMO__EVENT_TOPIC && strcmp(d->topic, topic) == 0 && strcmp(d->name, event) == 0)
            return 1;
    }
    return 0;
}

/* One topic: its subscriptions become exactly p's events on it. */
static int sync_topic(const kumo__project *p, kumo__topic *t, kumo__error *err)
{
    kumo__arena a;
    const char **names = NULL;
    size_t n = 0;
    int rc;
    kumo__arena_init(&a);
    const char *owner = p->name ? p->name : "";
    if ((rc = kumo__topic_list(t, &a, owner, &names, &n)) != 0) {
        kumo__error_set(err, -EIO, "topic '%s': cannot list its subscriptions (%s%s%s)", t->name, kumo_strerror(rc),
                        t->error[0] ? ": " : "", t->error);
        goto out;
    }
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *d = &p->events[i];
        if (d->kind != KUMO__EVENT_TOPIC || strcmp(d->topic, t->name) != 0)
            continue;
        int had = 0;
        for (size_t j = 0; j < n && !had; j++)
            had = strcmp(names[j], d->name) == 0;
        if ((rc = kumo__topic_subscribe(t, d->name, owner)) != 0) {
            kumo__error_set(err, -EIO, "topic '%s': cannot subscribe event %s (%s%s%s)", t->name, d->name,
                            kumo_strerror(rc), t->error[0] ? ": " : "", t->error);
            goto out;
        }
        if (!had)
            kumo__log_event("info", "topic %s: event %s subscribed (its queue: %s)", t->name, d->name, d->queue);
    }
    for (size_t j = 0; j < n; j++) {
        if (declared(p, t->name, names[j]))
            continue;
        if ((rc = kumo__topic_unsubscribe(t, names[j])) != 0) {
            kumo__error_set(err, -EIO, "topic '%s': cannot unsubscribe %s (%s%s%s)", t->name, names[j],
                            kumo_strerror(rc), t->error[0] ? ": " : "", t->error);
            goto out;
        }
        kumo__log_event("warn",
                        "topic %s: event %s is no longer in kumo.yaml: unsubscribed; what waits in its queue %s.%s "
                        "(and %s.%s-dead) is kept, and is delivered if the event comes back",
                        t->name, names[j], t->name, names[j], t->name, names[j]);
    }
    rc = 0;
out:
    kumo__arena_free(&a);
    return rc ? err->code : 0;
}

int kumo__gw_topics_subscribe(const kumo__project *p, const kumo__store_plan *plan, kumo__error *err)
{
    for (size_t i = 0; i < p->nstores; i++) {
        const kumo__store_decl *s = &p->stores[i];
        if (s->kind != KUMO__STORE_TOPIC)
            continue;
        kumo__topic *t = open_topic(plan, s->name, err);
        if (t == NULL)
            return err->code;
        int rc = sync_topic(p, t, err);
        kumo__store_close(&t->store);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int kumo__gw_topic_queue_open(const kumo__store_plan *plan, const kumo__event_decl *d, kumo__queue **out,
                              kumo__error *err)
{
    *out = NULL;
    kumo__topic *t = open_topic(plan, d->topic, err);
    if (t == NULL)
        return KUMO_EUNAVAILABLE;
    int rc = kumo__topic_open_subscription(t, d->name, out, err);
    kumo__store_close(&t->store);
    return rc;
}
