/*
 * store_plan.h: where each store of a project lives, decided once per
 * generation and read by everyone who needs it: `kumo up`'s start-up lines
 * and reload, the workers' environment and sandbox (a store on a server
 * needs the network), kumo-host, and the deploy targets.
 *
 * A store's URL comes from, in order: the variable KUMO_STORE_<NAME> in
 * the environment kumo was started with (when set and not empty), the URL
 * environments.ENV.stores.NAME gives in kumo.yaml, else the embedded
 * default under DIR/.kumo/data (kv and queue: sqlite:, blob: file:). On a
 * reload, a store the previous plan placed keeps its place: a reload never
 * moves a store that workers are using (see kumo__store_plan_build).
 *
 * Workers learn the URLs through an explicit environment built from the
 * plan (kumo__store_plan_envp), never through the gateway's own.
 */
#ifndef KUMO_STORE_PLAN_H
#define KUMO_STORE_PLAN_H

#include <stddef.h>

#include "project/project.h"

typedef enum kumo__store_origin {
    KUMO__STORE_FROM_VARIABLE,    /* KUMO_STORE_<NAME> in kumo's environment */
    KUMO__STORE_FROM_ENVIRONMENT, /* environments.ENV.stores.NAME in kumo.yaml */
    KUMO__STORE_FROM_DEFAULT,     /* the embedded default under .kumo/data */
} kumo__store_origin;

typedef struct kumo__store_place {
    const char *name; /* borrowed from the project */
    kumo__store_kind kind;
    char var[80]; /* KUMO_STORE_<NAME> */
    char *url;    /* malloc'd */
    char *asked;  /* what this generation's files and variables ask for (kept: may differ from url) */
    char *shown;  /* url with its secrets hidden, for messages and logs; malloc'd */
    kumo__store_origin origin;
    int line, col; /* FROM_ENVIRONMENT: where the URL is in kumo.yaml; 0 when unknown */
    int kept;      /* placed by the previous plan and kept there (a reload) */
    int fresh;     /* not in the previous plan: new to this generation */
    int needs_net; /* a server (redis://, s3://, ...), not an embedded sqlite: or file: store */
} kumo__store_place;

typedef struct kumo__store_plan {
    kumo__store_place *stores; /* in p->stores order */
    size_t n;
    const char *env; /* the environment picked (borrowed from the project), or NULL */
} kumo__store_plan;

/* Places every store of p. `env_asked` is --env (NULL: "dev" when the
 * project has it); `vars` is the environment kumo started with (a
 * NULL-terminated "NAME=value" list, may be NULL). With `previous` (a
 * reload), a store it placed keeps its URL; a change of kind is an error,
 * and a URL that kumo.yaml changed since `previous` is reported through
 * `moved` (may be NULL) and not applied. Returns 0 with *out filled, or an error. */
int kumo__store_plan_build(const kumo__project *p, const char *env_asked, char *const *vars,
                           const kumo__store_plan *previous,
                           void (*moved)(const kumo__store_place *kept, const char *wanted_shown),
                           kumo__store_plan *out, kumo__error *err);
void kumo__store_plan_free(kumo__store_plan *plan);
/* The store named `name`, or NULL. */
const kumo__store_place *kumo__store_plan_find(const kumo__store_plan *plan, const char *name);
/* Whether any store lives on a server (the workers then keep the network). */
int kumo__store_plan_needs_net(const kumo__store_plan *plan);
/* What to tell a user whose store cannot be opened: where its URL came
 * from and how to change it ("fix environments.dev.stores.todos in
 * kumo.yaml:14:21"), into buf. */
void kumo__store_place_fix(const kumo__project *p, const kumo__store_plan *plan, const kumo__store_place *s, char *buf,
                           size_t len);
/* A worker's environment: `base` (NULL-terminated, may be NULL) without any
 * KUMO_STORE_* entry of its own, then KUMO_STORE_<NAME>=URL for every
 * store of the plan. One malloc'd block (free it once), or NULL when out
 * of memory. */
char **kumo__store_plan_envp(const kumo__store_plan *plan, char *const *base);

#endif
