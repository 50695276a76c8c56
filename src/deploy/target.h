/*
 * target.h: what the vendor-CLI targets (gcp, azure, knative, openfaas,
 * kubernetes) share. targets.c drives one deploy: it loads the project,
 * picks the environment, works out where each store lives (a plain URL,
 * or a secret passed by reference), finds or builds the images, then
 * calls the target's driver, which writes its files into
 * DIR/.kumo/deploy/TARGET/ and appends the commands that apply them to
 * the plan. targets.c writes the commands as deploy.sh, prints the plan,
 * and runs it unless --dry-run.
 *
 * A driver is a versioned struct (kumo__target_driver); a new target is
 * one target_NAME.c file and one line in targets.c's table.
 */
#ifndef KUMO_TARGET_H
#define KUMO_TARGET_H

#include <jansson.h>
#include <stddef.h>

#include "deploy/deploy.h"
#include "project/project.h"
#include "project/store_plan.h"

/* Where one declared store lives in the chosen environment. */
typedef struct kumo__target_store {
    const char *store; /* the name under stores: */
    const char *kind;  /* kv, blob, queue */
    char var[128];     /* KUMO_STORE_<NAME> */
    const char *url;   /* the URL when it may be written into a file; NULL otherwise */
    int secret;        /* the URL holds a password: pass it by reference only */
    int unplaced;      /* the environment gives it no URL: the embedded default applies */
    int provisioned;   /* unplaced, and the target makes it (driver's provisions): the driver sets url */
} kumo__target_store;

/* One function unit, and its image for the image targets. */
typedef struct kumo__target_unit {
    const kumo__unit *unit;
    kumo__env_entry *env; /* its env: variables in the environment deployed (project/env.h) */
    size_t nenv;
    char *name;   /* DNS label: "<project>-<unit>" */
    char *layout; /* the OCI layout DIR/.kumo/build/TARGET/UNIT (image targets) */
    char *digest; /* "sha256:..." of its manifest (image targets) */
} kumo__target_unit;

typedef struct kumo__target_ctx {
    const kumo__deploy_opts *o;
    kumo__error *err;
    kumo__project *p;
    kumo__spec *spec;     /* loaded for targets that route operations (gcp) */
    const char *env_name; /* the environment picked, or NULL */
    const kumo__environment *env;
    char *name;            /* DNS label of the deployment: --stack or the project's name */
    char *secret_name;     /* kumo-<name>-stores */
    char *out_dir;         /* DIR/.kumo/deploy/TARGET */
    kumo__store_plan plan; /* where the stores live in the environment deployed (project/store_plan.h) */
    kumo__target_store *stores;
    size_t nstores;
    size_t nsecrets;     /* stores with secret set */
    size_t nenv_secrets; /* env: variables holding a reference, over every unit */
    char *env_secret;    /* kumo-<name>-env: the Kubernetes secret holding them (cluster targets) */
    kumo__target_unit *units;
    size_t nunits;
    /* the plan */
    char **files; /* written, absolute, in order */
    size_t nfiles;
    char *script; /* sh commands, one or more lines each */
    size_t script_len, script_cap;
    char **notes; /* things the user should know, printed before the commands */
    size_t nnotes;
    char **scratch; /* strings handed out by kumo__target_sh_quote, freed with the context */
    size_t nscratch;
    int oom;
} kumo__target_ctx;

typedef struct kumo__target_driver {
    int version;       /* 1 */
    const char *name;  /* as --target takes it */
    const char *tools; /* the CLIs the commands run, space separated */
    int images;        /* needs an OCI image per unit (kumo build --target NAME) */
    /* Writes the files and appends the commands (for o->destroy: the
     * commands that remove what deploy made). 0, or a negative code with
     * t->err set. */
    int (*generate)(kumo__target_ctx *t);
    /* The store kinds the target makes itself for a store the environment
     * places nowhere ("kv blob queue"), instead of refusing an embedded
     * store on several replicas; NULL for none. */
    const char *provisions;
} kumo__target_driver;

extern const kumo__target_driver kumo__target_gcp, kumo__target_azure, kumo__target_knative, kumo__target_openfaas,
    kumo__target_kubernetes;

/* ---- the plan (targets.c) ------------------------------------------------- */

/* Appends one command (printf) to the script, with a newline. */
void kumo__target_cmd(kumo__target_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note printed with the plan (printf). */
void kumo__target_note(kumo__target_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The note of a platform that gives a container one port: kumo-host's
 * /metrics is not exposed there (target_k8s.c). */
void kumo__target_one_port_note(kumo__target_ctx *t, const char *platform);
/* `s` quoted for sh ('...'), or s itself when it needs no quoting; owned
 * by t. Never NULL ("''" when memory ran out, with t->oom set). */
const char *kumo__target_sh_quote(kumo__target_ctx *t, const char *s);
/* out_dir/NAME, owned by t. */
const char *kumo__target_path(kumo__target_ctx *t, const char *name);
/* Writes `doc` as YAML (or, for an array with multi set, one YAML
 * document per element, separated by ---) to out_dir/NAME and records
 * it in the plan. Consumes doc. */
int kumo__target_write_yaml(kumo__target_ctx *t, const char *name, json_t *doc, int multi);
/* Writes `doc` as indented JSON to out_dir/NAME. Consumes doc. */
int kumo__target_write_json(kumo__target_ctx *t, const char *name, json_t *doc);

/* Builds the project for the target (kumo__build_target) unless
 * `artifact` (a file the build writes) is newer than kumo.yaml, the API
 * document and every unit's sources. 0: fresh; 1: built, *out filled
 * (kumo__artifacts_free it); negative with t->err set. */
int kumo__target_build(kumo__target_ctx *t, const char *artifact, kumo__artifacts *out);

/* ---- shared pieces -------------------------------------------------------- */

/* The unit's name as a DNS label part (lower case, [a-z0-9-]). Writes into buf. */
const char *kumo__target_dns_label(const char *s, char *buf, size_t len);
/* "128Mi" for a byte count (rounded up to MiB); NULL for 0 (no limit). */
const char *kumo__target_mem_quantity(size_t bytes, char *buf, size_t len);
/* The image reference REGISTRY/REPO@DIGEST of unit u for the cluster
 * targets: $KUMO_REGISTRY (else localhost:5000) + "/" + u->name. Owned by t. */
const char *kumo__target_cluster_image(kumo__target_ctx *t, const kumo__target_unit *u, int with_digest);
/* The container env list ([{name, value} | {name, valueFrom: {secretKeyRef:
 * {name: t->secret_name, key: VAR}}}]) of the chosen environment: the
 * stores' URLs, then unit u's env: variables (a secret one from the
 * secret t->env_secret, key kumo__target_env_key). */
json_t *kumo__target_k8s_env(kumo__target_ctx *t, const kumo__target_unit *u);

/* ---- env: (targets.c) ------------------------------------------------------ */

/* A secret variable's value as deploy.sh computes it, one sh word in
 * double quotes: the literal text, ${env:NAME} as "${NAME}", ${file:PATH}
 * as "$(cat PATH)" (a relative PATH under the project). Never the value
 * itself. Owned by t. */
const char *kumo__target_env_sh(kumo__target_ctx *t, const kumo__env_var *v);
/* The lines that stop deploy.sh when a secret's reference cannot be read
 * (a variable not exported, a file not there), once per reference. */
void kumo__target_env_require(kumo__target_ctx *t);
/* "UNIT.NAME": a secret variable's key in t->env_secret (into buf). */
const char *kumo__target_env_key(const kumo__target_unit *u, const kumo__env_var *v, char *buf, size_t len);
/* Commands that create or update the Kubernetes secret t->env_secret from
 * every unit's secret variables, computed by deploy.sh and piped to kubectl
 * (base64 through a pipe: no value in any file or command line). */
void kumo__target_k8s_env_secret(kumo__target_ctx *t, const char *namespace_flag);
/* Commands that push each unit's image to the cluster registry, and
 * (when some store URL is secret) create the Kubernetes secret
 * t->secret_name from the user's own environment variables. */
void kumo__target_k8s_push_images(kumo__target_ctx *t);
void kumo__target_k8s_secret(kumo__target_ctx *t, const char *namespace_flag);
/* The line that stops the script when a secret store URL is not
 * exported: `: "${VAR:?...}"`. */
void kumo__target_require_secret_vars(kumo__target_ctx *t);

/* ---- events (targets.c) ---------------------------------------------------- */

/* Whether target `target` (gcp, azure, knative, openfaas, kubernetes; aws
 * is cfn_template.c's) can carry every event of p: 0, or -EINVAL with err
 * set to "kumo.yaml:L:C: events.NAME: ..." for the first it cannot
 * express (never dropped). kumo build and kumo deploy both ask. */
int kumo__target_check_events(const kumo__project *p, const char *target, kumo__error *err);

/* The schedule of e as a cron line the platform takes: 5 fields
 * (seconds 0) or, with `seconds`, 6 fields (NCRONTAB, seconds first).
 * @names are spelled out and `every` intervals that divide their unit are
 * written as steps. 0, or -EINVAL with why set. *utc is set when the
 * line must be read in UTC (an `every` interval ignores timezone:). */
int kumo__target_cron(const kumo__event_decl *e, int seconds, char *out, size_t cap, int *utc, const char **why);

/* The URL path a platform pushes event `name` to on kumo-host
 * (src/host/events.c): "/_kumo/events/NAME". */
#define KUMO__TARGET_EVENTS_PATH "/_kumo/events/"

/* Azure (target_azure.c): writes APP/FUNCTION/function.json for each
 * event of p (timer, queue and blob triggers, and one HTTP function for
 * /_kumo/events/NAME when the project has cloudevent events), taking the
 * names in `taken` first, and sets host.json's extensions.queues. */
int kumo__azure_event_functions(const kumo__project *p, const char *app, json_t *taken, json_t *host, kumo__error *err);

#endif
