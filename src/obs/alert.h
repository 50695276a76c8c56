/*
 * alert.h: the alerts the monitor raises (alert.c). Each round of the
 * monitor (monitor.c) says which conditions hold; an alert follows
 *
 *   inactive -> pending -> firing -> resolved
 *
 * pending while its condition holds for less than `for:` (and fewer
 * rounds than the condition asks), firing after, resolved when the
 * condition stops (a pending alert whose condition stops is dropped).
 * Every transition is one log line (kumo__log_event: info, warn when
 * firing). Firing and resolved alerts go to the webhooks as Alertmanager's
 * v2 payload (POST /api/v2/alerts: a JSON array of alerts), firing ones
 * again every `resend:` as Alertmanager expects of a client.
 *
 * Not thread-safe: one owner (the monitor thread).
 */
#ifndef KUMO_OBS_ALERT_H
#define KUMO_OBS_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "project/project.h"

typedef enum kumo__alert_state {
    KUMO__ALERT_PENDING,
    KUMO__ALERT_FIRING,
    KUMO__ALERT_RESOLVED,
} kumo__alert_state;
/* "pending", "firing", "resolved" */
const char *kumo__alert_state_name(kumo__alert_state s);

/* A condition that holds in this round, as the monitor states it. */
typedef struct kumo__alert_cond {
    const char *name;        /* alertname: KumoLatencyHigh, KumoErrorRateHigh, KumoAnomaly, ... */
    const char *operation;   /* "" for the project as a whole */
    const char *function;    /* "" when none */
    const char *severity;    /* "warning" or "critical" */
    const char *summary;     /* one line */
    const char *description; /* what was measured against what */
    int min_rounds;          /* rounds it must hold before firing, besides for: (1) */
} kumo__alert_cond;

typedef struct kumo__alert {
    char name[64], operation[128], function[64], severity[16];
    char summary[256], description[1024];
    kumo__alert_state state;
    uint64_t since_ms;    /* epoch: when the condition began to hold (Alertmanager's startsAt) */
    uint64_t fired_ms;    /* when it fired (0: not yet) */
    uint64_t resolved_ms; /* when it resolved (0: not yet) */
    uint64_t sent_ms;     /* last delivered to the webhooks (0: never) */
    int rounds;           /* consecutive rounds the condition held */
    int min_rounds;
    int unsent;  /* a transition the webhooks have not had yet */
    int holding; /* set in this round */
    /* Restored from the alerts file (kumo__alerts_load): it counts as
     * holding until then, epoch ms, whether or not its condition is seen
     * (a restarted monitor has no window yet); 0: not restored. */
    uint64_t held_until_ms;
} kumo__alert;

typedef struct kumo__alerts {
    kumo__alert *v;
    size_t n, cap;
    double for_s, resend_s;
    char project[64];
    char generator_url[256]; /* "" when none */
    uint64_t transitions;    /* log lines written, for tests */
    int dirty;               /* changed since the last kumo__alerts_save */
} kumo__alerts;

/* An empty set for `project` (its name, the `project` label). */
void kumo__alerts_init(kumo__alerts *a, const char *project, const char *generator_url);
void kumo__alerts_free(kumo__alerts *a);
/* A new round: no condition holds until set. */
void kumo__alerts_begin(kumo__alerts *a);
/* Condition c holds in this round (strings copied, truncated to fit).
 * 0, or -ENOMEM (the condition is lost for this round). */
int kumo__alerts_set(kumo__alerts *a, const kumo__alert_cond *c);
/* The round ends at now_ms (epoch): the transitions, each logged.
 * Resolved alerts are kept an hour for GET /alerts once delivered. */
void kumo__alerts_end(kumo__alerts *a, uint64_t now_ms);
/* How many fire now. */
size_t kumo__alerts_firing(const kumo__alerts *a);

/* Alertmanager's v2 payload of the alerts due for delivery at now_ms (a
 * transition unsent, or firing and not sent for resend:), or of all
 * firing and resolved ones (all != 0). NULL when none are due. */
json_t *kumo__alerts_payload(const kumo__alerts *a, uint64_t now_ms, int all);
/* The due alerts (those kumo__alerts_payload(a, now_ms, 0) listed) were
 * delivered. */
void kumo__alerts_sent(kumo__alerts *a, uint64_t now_ms);
/* What was said about one webhook's failures (one per URL, zeroed at
 * first): a webhook that stays down is a line a minute, not one a round. */
typedef struct kumo__webhook_log {
    uint64_t said_ms; /* last warn line (monotonic); 0: none */
    unsigned unsaid;  /* failures since, not logged */
    int failing;      /* the last post failed */
} kumo__webhook_log;
/* POSTs `payload` (JSON) to each URL with libcurl, each within timeout_s;
 * returns how many accepted it (2xx). Failures are logged (warn, with the
 * URL and why; at most a line a minute per URL, through logs[i]), and so
 * is a webhook that accepts again. Blocking: the monitor thread's own
 * time; a post stops early once *abort_flag (may be NULL) is set. */
size_t kumo__alerts_post(char *const *urls, size_t n, const char *payload, double timeout_s, kumo__webhook_log *logs,
                         const int *abort_flag);
/* libcurl's progress callback that aborts a transfer once the int its
 * ctx points to is set (read atomically): the monitor's stop. */
int kumo__curl_abort_on(void *ctx, long long dltotal, long long dlnow, long long ultotal, long long ulnow);
/* The alerts as GET /alerts shows them (a JSON array; new reference). */
json_t *kumo__alerts_json(const kumo__alerts *a);

/* ---- across restarts -------------------------------------------------------- */

/* Writes the firing and resolved alerts (their times, whether the
 * webhooks have had their last transition) to `path`, atomically: a
 * temporary file beside it, renamed over it. Pending alerts are not kept
 * (their for: starts over). Clears a->dirty. 0, or -errno with err set. */
int kumo__alerts_save(kumo__alerts *a, const char *path, kumo__error *err);
/* Restores what kumo__alerts_save wrote into the empty set a, at now_ms:
 * a firing alert stays firing, with its start and its last delivery, and
 * counts as holding until now_ms + hold_ms; a resolved one is listed, and
 * delivered if it was not yet. A missing file is no alerts (0); a file
 * that cannot be read is -errno with err set, and a is left empty. The
 * file is bounded (ALERTS_MAX alerts, 4 MiB). */
int kumo__alerts_load(kumo__alerts *a, const char *path, uint64_t now_ms, uint64_t hold_ms, kumo__error *err);

/* ---- Prometheus rules ------------------------------------------------------- */

/* Prometheus alerting rules equivalent to the built-in monitors of project
 * p over spec (the operations with handlers, and p's events), over the
 * metric names of /metrics: a rules file (`groups:`) as a JSON tree to
 * dump as YAML; NULL when out of memory. */
json_t *kumo__alert_rules(const kumo__project *p, const kumo__spec *spec);

#endif
