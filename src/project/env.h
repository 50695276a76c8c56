/*
 * env.h: kumo.yaml's env: (env.c), the variables a project's handlers
 * read with getenv. Declared at three levels, each a mapping NAME: VALUE:
 *
 *     env:                      the project's, every function
 *     functions.F.env:          function F's, over the project's
 *     environments.E.env:       environment E's, over both
 *
 * A value is plain (written as it is into a deploy target's configuration)
 * or a secret: a value holding a reference, ${env:NAME} (kumo's own
 * environment, the deploying machine's for a deploy) or ${file:PATH} (a
 * file there, a mounted secret). A secret is expanded only where it is
 * handed to a process (kumo up's workers, each generation; deploy.sh's
 * commands, from the deployer's shell), never logged, never written into a
 * generated file: targets carry it by reference.
 *
 * Workers get exactly these variables, plus what kumo itself needs
 * (kumo__env_worker_base): never the whole environment kumo started with.
 */
#ifndef KUMO_PROJECT_ENV_H
#define KUMO_PROJECT_ENV_H

#include <stddef.h>

#include "base/error.h"

struct kumo__project;
struct kumo__unit;
struct kumo__store_plan;

/* One NAME: VALUE as written in kumo.yaml. */
typedef struct kumo__env_var {
    char *name;    /* [A-Za-z_][A-Za-z0-9_]*, not KUMO_* */
    char *value;   /* as written: may hold ${env:...} / ${file:...} */
    int secret;    /* the value holds a reference */
    int line, col; /* of the value */
} kumo__env_var;

typedef struct kumo__env_list {
    kumo__env_var *v;
    size_t n;
} kumo__env_list;

#define KUMO__ENV_MAX 256 /* variables in one env: mapping */

/* Reads env:, functions.*.env and environments.*.env of p's document
 * (p->units and p->environments loaded). 0, or -EINVAL with err naming
 * kumo.yaml:line:column. */
int kumo__project_load_env(struct kumo__project *p, kumo__error *err);
void kumo__env_list_free(kumo__env_list *l);

/* One variable in force for a unit in an environment. */
typedef struct kumo__env_entry {
    const kumo__env_var *var; /* borrowed from the project */
    const char *level;        /* "env", "functions.F.env" or "environments.E.env": where it was set */
} kumo__env_entry;

/* The variables unit u (NULL: the project's alone) gets in environment
 * `env` (NULL: none), precedence applied (environment > function >
 * project), in the project's order then the additions'. *out malloc'd
 * (NULL when none), *n its length. 0 or -ENOMEM. */
int kumo__env_effective(const struct kumo__project *p, const struct kumo__unit *u, const char *env,
                        kumo__env_entry **out, size_t *n, kumo__error *err);
/* Whether any unit of p gets a variable in environment `env`. */
int kumo__env_any(const struct kumo__project *p, const char *env);

/* The value of a variable with its references expanded (a relative
 * ${file:} under p->dir): *out malloc'd. A value may hold line breaks,
 * not NUL. 0, or an error naming the reference and where it is written,
 * never a value. */
int kumo__env_expand(const struct kumo__project *p, const kumo__env_entry *e, char **out, kumo__error *err);

/* The variables of kumo's own environment `vars` a worker keeps (kumo's
 * needs, not the user's shell): the sanitizer runtimes' options,
 * LD_LIBRARY_PATH and TZDIR; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_REGION and AWS_DEFAULT_REGION when a store of
 * the plan lives on AWS; PG* when one lives on PostgreSQL. Then
 * KUMO_STORE_<NAME> for every store. One malloc'd block (free once), NULL
 * when out of memory. */
char **kumo__env_worker_base(const struct kumo__store_plan *plan, char *const *vars);
/* Whether kumo passes variable `name` (NAME=... in `vars`' form) to
 * workers for this plan: the rule kumo__env_worker_base applies. */
int kumo__env_kept(const struct kumo__store_plan *plan, const char *entry);

/* Unit u's variables in environment `env`, expanded, as "NAME=value"
 * strings in one malloc'd NULL-terminated block (free once); *out NULL
 * when it has none. 0, or an error (a reference that cannot be expanded). */
int kumo__env_unit_block(const struct kumo__project *p, const struct kumo__unit *u, const char *env, char ***out,
                         kumo__error *err);

/* Frees a block of kumo__env_unit_block, its strings wiped first. */
void kumo__env_block_free(char **block);

/* Names a target reserves or kumo sets itself: 1 when `name` is one
 * (KUMO_*, PORT). */
int kumo__env_name_reserved(const char *name);

#endif
