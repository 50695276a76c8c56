/*
 * sns.c: the topic driver for SNS fanning out to SQS,
 * `sns://TOPIC?queue.EVENT=QUEUE&...&region=R&endpoint=URL&create=false`,
 * over aws.c (SigV4, SNS's query protocol: form-encoded POSTs, XML answers).
 *
 * Each subscription is an SQS queue subscribed to the topic with raw
 * message delivery (the SQS body is the message itself); the URL names the
 * queue of each event, queue.EVENT=QUEUE (a deploy, or the operator, makes
 * the topic, the queues, their dead-letter queues and the subscriptions,
 * and writes this URL). A subscription's queue is served by the SQS queue driver (sqs.c),
 * opened with the topic's region, endpoint, create= and max_receives=:
 * receive, ack, nack and visibility are that driver's, and dead letters are
 * SQS's redrive to QUEUE-dead after the queue's maxReceiveCount (set by
 * deploy from the event's max_receives; a queue this driver makes gets the
 * URL's max_receives=, default 5).
 *
 * The topic's ARN is found on first use: CreateTopic (idempotent) unless
 * create=false, then ListTopics. Publish is one SNS Publish: SNS delivers
 * it to every subscription the topic has, which is SNS's atomicity (each
 * subscription gets it at least once). Bodies: SNS carries UTF-8 text; a
 * body that is not plain text (sqs.c's rule) is sent base64 with the
 * message attribute kumo-encoding=base64, which raw delivery hands to SQS
 * and sqs.c decodes. An empty message is KUMO_EINVAL (SNS refuses it).
 * The sender's traceparent goes as the String message attribute
 * `traceparent`, which raw delivery hands to each SQS queue as an SQS
 * message attribute (sqs.c gives it back on receive).
 *
 * subscribe makes the SNS subscription of the event's queue when it is
 * missing (the queue too, with the policy that lets the topic send to
 * it), or with create=false only checks that deploy made it
 * (KUMO_EUNAVAILABLE otherwise); unsubscribe removes it (the queue and
 * what waits in it are kept). list names the URL's events whose queue is
 * subscribed now (so a subscription's owner, the project, is the URL's:
 * another project's subscriptions to the topic are not seen). An event
 * without queue.EVENT in the URL is KUMO_EINVAL:
 * kumo does not guess queue names.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (1u << 20)
#define LIST_PAGES_MAX 100 /* ListTopics / ListSubscriptionsByTopic pages followed, 100 items each */
#define SUBS_MAX 64
#define ENCODING_ATTR "kumo-encoding"

typedef struct sub {
    char *event, *queue;
} sub;

typedef struct sns {
    kumo__topic base;     /* first: topic.c sees a kumo__topic */
    pthread_mutex_t lock; /* guards aws and topic_arn */
    kumo__aws *aws;
    char *topic;     /* the SNS topic's name */
    char *topic_arn; /* NULL until found or made */
    int create;
    char *sqs_query; /* "region=R[&endpoint=E][&create=false]": the queues' URL query */
    sub subs[SUBS_MAX];
    size_t nsubs;
} sns;

/* ---- query protocol ------------------------------------------------------ */

typedef struct form {
    char *buf;
    size_t len, cap;
    int oom;
} form;

static void form_add(form *f, const char *key, const char *val, size_t vlen)
{
    size_t need = f->len + strlen(key) + 3 * vlen + 3;
    if (f->oom)
        return;
    if (need > f->cap) {
        size_t cap = need * 2;
        char *b = realloc(f->buf, cap);
        if (b == NULL) {
            f->oom = 1;
            return;
        }
        f->buf = b;
        f->cap = cap;
    }
    f->len += (size_t)snprintf(f->buf + f->len, f->cap - f->len, "%s%s=", f->len ? "&" : "", key);
    if (vlen)
        f->len += kumo__aws_uri_encode(val, vlen, 0, f->buf + f->len, f->cap - f->len);
    f->buf[f->len] = '\0';
}

static void form_str(form *f, const char *key, const char *val)
{
    form_add(f, key, val, strlen(val));
}

/* One SNS action (the form starts with Action and Version); frees the
 * form. On 0, res holds the XML answer (kumo__cloud_res_free it). */
static int query(sns *t, form *f, kumo__cloud_res *res)
{
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    char url[512];
    memset(res, 0, sizeof(*res));
    if (f->oom) {
        free(f->buf);
        snprintf(t->base.error, sizeof(t->base.error), "out of memory");
        return KUMO_ENOMEM;
    }
    snprintf(url, sizeof(url), "%s/", kumo__aws_base(t->aws));
    int rc = kumo__aws_send(t->aws, "POST", url, headers, f->buf, f->len, RESPONSE_MAX, res);
    free(f->buf);
    if (rc != 0)
        kumo__cloud_res_free(res);
    return rc;
}

static form action(const char *name)
{
    form f = {0};
    form_str(&f, "Action", name);
    form_str(&f, "Version", "2010-03-31");
    return f;
}

/* The topic's ARN, found or made (lock held). */
static int ensure_topic(sns *t)
{
    kumo__cloud_res res;
    char *token = NULL;
    int rc;
    if (t->topic_arn)
        return 0;
    if (t->create) {
        form f = action("CreateTopic");
        form_str(&f, "Name", t->topic);
        if ((rc = query(t, &f, &res)) != 0)
            return rc;
        t->topic_arn = kumo__aws_xml_text(res.body, "TopicArn", NULL);
        kumo__cloud_res_free(&res);
        return t->topic_arn ? 0 : KUMO_EIO;
    }
    char suffix[300];
    snprintf(suffix, sizeof(suffix), ":%s", t->topic);
    for (int page = 0; page < LIST_PAGES_MAX && t->topic_arn == NULL; page++) {
        form f = action("ListTopics");
        if (token)
            form_str(&f, "NextToken", token);
        free(token);
        token = NULL;
        if ((rc = query(t, &f, &res)) != 0)
            return rc;
        const char *p = res.body;
        char *arn;
        while (t->topic_arn == NULL && (arn = kumo__aws_xml_text(p, "TopicArn", &p)) != NULL) {
            size_t n = strlen(arn), sl = strlen(suffix);
            if (n > sl && strcmp(arn + n - sl, suffix) == 0)
                t->topic_arn = arn;
            else
                free(arn);
        }
        token = kumo__aws_xml_text(res.body, "NextToken", NULL);
        kumo__cloud_res_free(&res);
        if (token == NULL || *token == '\0')
            break;
    }
    free(token);
    if (t->topic_arn == NULL) {
        snprintf(t->base.error, sizeof(t->base.error),
                 "sns: topic '%s' does not exist; deploy makes it, or drop create=false from the URL", t->topic);
        return KUMO_EUNAVAILABLE;
    }
    return 0;
}

/* The topic's SQS subscriptions now: their ARNs and endpoints (queue
 * ARNs), malloc'd, n of each (lock held). */
static int list_subscriptions(sns *t, char ***arns, char ***endpoints, size_t *n)
{
    kumo__cloud_res res;
    char *token = NULL;
    size_t cap = 0;
    int rc = 0;
    *arns = *endpoints = NULL;
    *n = 0;
    for (int page = 0; page < LIST_PAGES_MAX; page++) {
        form f = action("ListSubscriptionsByTopic");
        form_str(&f, "TopicArn", t->topic_arn);
        if (token)
            form_str(&f, "NextToken", token);
        free(token);
        token = NULL;
        if ((rc = query(t, &f, &res)) != 0)
            break;
        const char *p = res.body;
        char *member;
        while (rc == 0 && (member = kumo__aws_xml_text(p, "member", &p)) != NULL) {
            char *proto = kumo__aws_xml_text(member, "Protocol", NULL);
            char *arn = kumo__aws_xml_text(member, "SubscriptionArn", NULL);
            char *ep = kumo__aws_xml_text(member, "Endpoint", NULL);
            free(member);
            if (proto && arn && ep && strcmp(proto, "sqs") == 0 && strncmp(arn, "arn:", 4) == 0) {
                if (*n == cap) {
                    cap = cap ? cap * 2 : 8;
                    char **a = realloc(*arns, cap * sizeof(*a)), **e = a ? realloc(*endpoints, cap * sizeof(*e)) : NULL;
                    if (a)
                        *arns = a;
                    if (e)
                        *endpoints = e;
                    if (a == NULL || e == NULL)
                        rc = KUMO_ENOMEM;
                }
                if (rc == 0) {
                    (*arns)[*n] = arn;
                    (*endpoints)[*n] = ep;
                    (*n)++;
                    arn = ep = NULL;
                }
            }
            free(proto);
            free(arn);
            free(ep);
        }
        token = kumo__aws_xml_text(res.body, "NextToken", NULL);
        kumo__cloud_res_free(&res);
        if (rc != 0 || token == NULL || *token == '\0')
            break;
    }
    free(token);
    return rc;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static const sub *find_sub(sns *t, const char *event)
{
    for (size_t i = 0; i < t->nsubs; i++)
        if (strcmp(t->subs[i].event, event) == 0)
            return &t->subs[i];
    return NULL;
}

/* Opens the SQS queue of subscription s. */
static int open_queue(sns *t, const sub *s, kumo__queue **out, kumo__error *e)
{
    char name[KUMO__TOPIC_QUEUE_MAX];
    kumo__store *q = NULL;
    *out = NULL;
    if (kumo__topic_subscription_queue(t->base.name, s->event, name, sizeof(name)) != 0) {
        kumo__error_set(e, KUMO_EINVAL, "'%s.%s' is not a valid subscription", t->base.name, s->event);
        return KUMO_EINVAL;
    }
    char *url = NULL;
    if (asprintf(&url, "sqs://%s?%s", s->queue, t->sqs_query) < 0) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    int rc = kumo__store_open(&kumo__queue_kind, url, name, &q, e);
    free(url);
    *out = (kumo__queue *)q; /* a kumo__queue starts with its kumo__store */
    return rc;
}

/* The ARN of s's queue (made when create allows, with the policy that
 * lets the topic send): malloc'd (lock held). */
static int queue_arn(sns *t, const sub *s, int for_subscribe, char **arn)
{
    kumo__queue *q = NULL;
    kumo__error e = {0};
    *arn = NULL;
    int rc = open_queue(t, s, &q, &e);
    if (rc != 0) {
        snprintf(t->base.error, sizeof(t->base.error), "%s", e.msg);
        return rc;
    }
    rc = kumo__sqs_queue_arn(q, for_subscribe && t->create ? t->topic_arn : NULL, arn);
    if (rc != 0)
        snprintf(t->base.error, sizeof(t->base.error), "%s", q->error);
    kumo__store_close(&q->store);
    return rc;
}

/* ---- the driver ---------------------------------------------------------- */

static void sns_close(kumo__store *store)
{
    sns *t = (sns *)store;
    if (t == NULL)
        return;
    kumo__aws_free(t->aws);
    free(t->topic);
    free(t->topic_arn);
    free(t->sqs_query);
    for (size_t i = 0; i < t->nsubs; i++) {
        free(t->subs[i].event);
        free(t->subs[i].queue);
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Takes the queue.EVENT=QUEUE parameters out of url into t->subs; *rest
 * (malloc'd) is the URL without them, for kumo__aws_url_parse. */
static int take_subs(sns *t, const char *url, char **rest, kumo__error *e)
{
    size_t len = strlen(url);
    char *r = malloc(len + 1);
    if (r == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    const char *q = strchr(url, '?');
    size_t n = q ? (size_t)(q - url) : len;
    memcpy(r, url, n);
    r[n] = '\0';
    int first = 1;
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        size_t plen = strcspn(p, "&");
        if (plen > 6 && strncmp(p, "queue.", 6) == 0) {
            const char *eq = memchr(p, '=', plen);
            if (eq == NULL || eq == p + 6 || eq + 1 == p + plen || t->nsubs == SUBS_MAX) {
                kumo__error_set(e, KUMO_EINVAL, "store URL: '%.*s' must be queue.EVENT=SQS_QUEUE (at most %d)",
                                (int)(plen < 80 ? plen : 80), p, SUBS_MAX);
                free(r);
                return KUMO_EINVAL;
            }
            sub *s = &t->subs[t->nsubs];
            s->event = strndup(p + 6, (size_t)(eq - p - 6));
            s->queue = strndup(eq + 1, (size_t)(p + plen - eq - 1));
            t->nsubs++;
            char probe[KUMO__TOPIC_QUEUE_MAX];
            if (s->event == NULL || s->queue == NULL) {
                kumo__error_set(e, KUMO_ENOMEM, "out of memory");
                free(r);
                return KUMO_ENOMEM;
            }
            if (kumo__topic_subscription_queue("t", s->event, probe, sizeof(probe)) != 0 || strchr(s->queue, '?')) {
                kumo__error_set(e, KUMO_EINVAL, "store URL: queue.%s: an event name is made of a-z, 0-9, '_', '-'",
                                s->event);
                free(r);
                return KUMO_EINVAL;
            }
        } else {
            size_t at = strlen(r);
            r[at] = first ? '?' : '&';
            memcpy(r + at + 1, p, plen);
            r[at + 1 + plen] = '\0';
            first = 0;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    *rest = r;
    return 0;
}

static int sns_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__aws_url u = {0};
    char *rest = NULL;
    *out = NULL;
    (void)name;
    sns *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&t->lock, NULL);
    int rc;
    if ((rc = take_subs(t, url, &rest, e)) != 0 || (rc = kumo__aws_url_parse(rest, "sns", &u, e)) != 0)
        goto out;
    rc = KUMO_EINVAL;
    if (*u.path) {
        kumo__error_set(e, KUMO_EINVAL, "store URL: a topic has no path; expected sns://TOPIC");
        goto out;
    }
    if ((rc = kumo__aws_new("sns", &u, t->base.error, sizeof(t->base.error), &t->aws, e)) != 0)
        goto out;
    t->create = u.create;
    t->topic = u.resource;
    u.resource = NULL;
    if (asprintf(&t->sqs_query, "region=%s%s%s%s&max_receives=%u", u.region, u.endpoint ? "&endpoint=" : "",
                 u.endpoint ? u.endpoint : "", u.create ? "" : "&create=false", u.max_receives) < 0) {
        t->sqs_query = NULL;
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    *out = &t->base.store; /* the topic is looked up (and made) on first use */
out:
    if (rc != 0)
        sns_close(&t->base.store);
    kumo__aws_url_free(&u);
    free(rest);
    return rc;
}

static int sns_publish(kumo__topic *kt, kumo__arena *a, const void *data, size_t len, const char *trace,
                       const char **id)
{
    sns *t = (sns *)kt;
    kumo__cloud_res res;
    char *b64 = NULL;
    if (len == 0) {
        snprintf(t->base.error, sizeof(t->base.error), "sns: SNS does not carry an empty message");
        return KUMO_EINVAL;
    }
    int plain = kumo__sqs_plain_text(data, len);
    if (!plain && (b64 = kumo__aws_b64_encode(data, len)) == NULL)
        return KUMO_ENOMEM;
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    if (rc == 0) {
        form f = action("Publish");
        form_str(&f, "TopicArn", t->topic_arn);
        if (plain) {
            form_add(&f, "Message", data, len);
        } else {
            form_str(&f, "Message", b64);
            form_str(&f, "MessageAttributes.entry.1.Name", ENCODING_ATTR);
            form_str(&f, "MessageAttributes.entry.1.Value.DataType", "String");
            form_str(&f, "MessageAttributes.entry.1.Value.StringValue", "base64");
        }
        if (trace && *trace) {
            const char *n = plain ? "1" : "2";
            char key[64];
            snprintf(key, sizeof(key), "MessageAttributes.entry.%s.Name", n);
            form_str(&f, key, "traceparent");
            snprintf(key, sizeof(key), "MessageAttributes.entry.%s.Value.DataType", n);
            form_str(&f, key, "String");
            snprintf(key, sizeof(key), "MessageAttributes.entry.%s.Value.StringValue", n);
            form_str(&f, key, trace);
        }
        rc = query(t, &f, &res);
    }
    pthread_mutex_unlock(&t->lock);
    free(b64);
    if (rc != 0)
        return rc;
    char *mid = kumo__aws_xml_text(res.body, "MessageId", NULL);
    kumo__cloud_res_free(&res);
    *id = kumo__arena_strndup(a, mid ? mid : "", mid ? strlen(mid) : 0);
    free(mid);
    return *id ? 0 : KUMO_ENOMEM;
}

static const sub *need_sub(sns *t, const char *event)
{
    const sub *s = find_sub(t, event);
    if (s == NULL)
        snprintf(t->base.error, sizeof(t->base.error),
                 "sns topic '%s': the URL names no queue for event '%s'; add queue.%s=SQS_QUEUE to it (deploy "
                 "makes the queue and its subscription)",
                 t->topic, event, event);
    return s;
}

/* The subscription of s's queue to the topic: its index in arns, or -1. */
static long find_subscription(char **endpoints, size_t n, const char *queue_arn)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(endpoints[i], queue_arn) == 0)
            return (long)i;
    return -1;
}

static int sns_subscribe(kumo__topic *kt, const char *event, const char *owner)
{
    sns *t = (sns *)kt;
    (void)owner; /* the URL's queue.EVENT= already scope what this project sees */
    const sub *s = need_sub(t, event);
    char **arns = NULL, **eps = NULL, *qarn = NULL;
    size_t n = 0;
    kumo__cloud_res res;
    if (s == NULL)
        return KUMO_EINVAL;
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    if (rc == 0)
        rc = queue_arn(t, s, 1, &qarn);
    if (rc == 0)
        rc = list_subscriptions(t, &arns, &eps, &n);
    if (rc != 0 || find_subscription(eps, n, qarn) >= 0)
        goto out;
    if (!t->create) {
        snprintf(t->base.error, sizeof(t->base.error),
                 "sns: queue '%s' is not subscribed to topic '%s'; deploy subscribes it, or drop create=false",
                 s->queue, t->topic);
        rc = KUMO_EUNAVAILABLE;
        goto out;
    }
    form f = action("Subscribe");
    form_str(&f, "TopicArn", t->topic_arn);
    form_str(&f, "Protocol", "sqs");
    form_str(&f, "Endpoint", qarn);
    form_str(&f, "Attributes.entry.1.key", "RawMessageDelivery");
    form_str(&f, "Attributes.entry.1.value", "true");
    form_str(&f, "ReturnSubscriptionArn", "true");
    if ((rc = query(t, &f, &res)) == 0)
        kumo__cloud_res_free(&res);
out:
    pthread_mutex_unlock(&t->lock);
    free_list(arns, n);
    free_list(eps, n);
    free(qarn);
    return rc;
}

static int sns_unsubscribe(kumo__topic *kt, const char *event)
{
    sns *t = (sns *)kt;
    const sub *s = find_sub(t, event);
    char **arns = NULL, **eps = NULL, *qarn = NULL;
    size_t n = 0;
    kumo__cloud_res res;
    if (s == NULL)
        return 0; /* no queue of ours: nothing subscribed for it */
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    if (rc == 0)
        rc = queue_arn(t, s, 0, &qarn);
    if (rc == KUMO_EUNAVAILABLE) {
        rc = 0; /* no such queue (create=false): nothing subscribed */
        goto out;
    }
    if (rc == 0)
        rc = list_subscriptions(t, &arns, &eps, &n);
    long at = rc == 0 ? find_subscription(eps, n, qarn) : -1;
    if (at >= 0) {
        form f = action("Unsubscribe");
        form_str(&f, "SubscriptionArn", arns[at]);
        if ((rc = query(t, &f, &res)) == 0)
            kumo__cloud_res_free(&res);
    }
out:
    pthread_mutex_unlock(&t->lock);
    free_list(arns, n);
    free_list(eps, n);
    free(qarn);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int sns_list(kumo__topic *kt, kumo__arena *a, const char *owner, const char ***names, size_t *count)
{
    sns *t = (sns *)kt;
    (void)owner; /* only the URL's events are listed: this project's */
    char **arns = NULL, **eps = NULL;
    size_t n = 0, got = 0;
    const char **v = kumo__arena_alloc(a, (t->nsubs ? t->nsubs : 1) * sizeof(*v));
    if (v == NULL)
        return KUMO_ENOMEM;
    pthread_mutex_lock(&t->lock);
    int rc = ensure_topic(t);
    if (rc == 0)
        rc = list_subscriptions(t, &arns, &eps, &n);
    for (size_t i = 0; rc == 0 && i < t->nsubs; i++) {
        char *qarn = NULL;
        int qrc = queue_arn(t, &t->subs[i], 0, &qarn);
        if (qrc == KUMO_EUNAVAILABLE)
            continue; /* its queue does not exist: not subscribed */
        rc = qrc;
        if (rc == 0 && find_subscription(eps, n, qarn) >= 0 &&
            (v[got++] = kumo__arena_strndup(a, t->subs[i].event, strlen(t->subs[i].event))) == NULL)
            rc = KUMO_ENOMEM;
        free(qarn);
    }
    pthread_mutex_unlock(&t->lock);
    free_list(arns, n);
    free_list(eps, n);
    if (rc != 0)
        return rc;
    qsort(v, got, sizeof(*v), by_name);
    *names = v;
    *count = got;
    return 0;
}

static int sns_open_subscription(kumo__topic *kt, const char *event, kumo__queue **out, kumo__error *e)
{
    sns *t = (sns *)kt;
    const sub *s = need_sub(t, event);
    if (s == NULL) {
        kumo__error_set(e, KUMO_EINVAL, "%s", t->base.error);
        return KUMO_EINVAL;
    }
    return open_queue(t, s, out, e);
}

const kumo__topic_driver kumo__topic_sns_driver = {
    .common = {.version = KUMO__TOPIC_DRIVER_VERSION, .scheme = "sns", .open = sns_open, .close = sns_close},
    .publish = sns_publish,
    .subscribe = sns_subscribe,
    .unsubscribe = sns_unsubscribe,
    .list = sns_list,
    .open_subscription = sns_open_subscription,
};
