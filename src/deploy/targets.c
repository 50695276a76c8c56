/*
 * targets.c: `kumo deploy --target gcp|azure|knative|openfaas|kubernetes`
 * (kumo__deploy_other, deploy.h). The infrastructure is the vendor's own
 * format, applied with the vendor's own CLI: kumo writes the files into
 * DIR/.kumo/deploy/TARGET/ together with deploy.sh, the exact commands
 * that apply them, prints both, and runs deploy.sh unless --dry-run.
 *
 * This file is the part every target shares (see target.h): the project,
 * the environment, where each store lives, the images, the plan. Each
 * target is a driver in target_gcp.c, target_azure.c and target_k8s.c.
 *
 * Secrets: a store URL holding a password is never written into a file,
 * printed or logged. Drivers pass it by reference (a Kubernetes secret, a
 * Secret Manager secret, an ARM securestring parameter) and deploy.sh
 * reads its value from the user's own environment variable
 * KUMO_STORE_<NAME> when it creates that secret.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/yaml_emit.h"
#include "deploy/target.h"
#include "openapi/docset.h"
#include "project/schedule.h"

static const kumo__target_driver *const drivers[] = {
    &kumo__target_gcp, &kumo__target_azure, &kumo__target_knative, &kumo__target_openfaas, &kumo__target_kubernetes,
};

/* ---- the plan ------------------------------------------------------------- */

static void script_add(kumo__target_ctx *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->script_len + n + 1 > t->script_cap) {
        size_t cap = t->script_cap ? t->script_cap : 4096;
        while (t->script_len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(t->script, cap);
        if (b == NULL) {
            t->oom = 1;
            return;
        }
        t->script = b;
        t->script_cap = cap;
    }
    memcpy(t->script + t->script_len, s, n);
    t->script_len += n;
    t->script[t->script_len] = '\0';
}

void kumo__target_cmd(kumo__target_ctx *t, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->oom = 1;
        return;
    }
    script_add(t, line, (size_t)n);
    script_add(t, "\n", 1);
    free(line);
}

static int push_str(kumo__target_ctx *t, char ***arr, size_t *n, char *s)
{
    char **a = s ? realloc(*arr, (*n + 1) * sizeof *a) : NULL;
    if (a == NULL) {
        free(s);
        t->oom = 1;
        return -ENOMEM;
    }
    a[(*n)++] = s;
    *arr = a;
    return 0;
}

void kumo__target_note(kumo__target_ctx *t, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    push_str(t, &t->notes, &t->nnotes, n < 0 ? NULL : line);
}

const char *kumo__target_sh_quote(kumo__target_ctx *t, const char *s)
{
    int plain = *s != '\0';
    for (const char *c = s; *c; c++) {
        if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
              strchr("_-./:=@,+%", *c)))
            plain = 0;
    }
    if (plain)
        return s;
    size_t n = 2;
    for (const char *c = s; *c; c++)
        n += *c == '\'' ? 4 : 1;
    char *q = malloc(n + 1), *w = q;
    if (q == NULL || push_str(t, &t->scratch, &t->nscratch, q) < 0)
        return "''";
    *w++ = '\'';
    for (const char *c = s; *c; c++) {
        if (*c == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = *c;
        }
    }
    *w++ = '\'';
    *w = '\0';
    return q;
}

const char *kumo__target_path(kumo__target_ctx *t, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", t->out_dir, name) < 0 || push_str(t, &t->scratch, &t->nscratch, s) < 0)
        return "";
    return s;
}

static int write_file(kumo__target_ctx *t, const char *name, const char *text, size_t len, int mode)
{
    const char *path = kumo__target_path(t, name);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        kumo__error_set(t->err, -errno, "writing %s: %s", tmp, strerror(errno));
        return t->err->code;
    }
    int bad = fwrite(text, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad || chmod(tmp, (mode_t)mode) < 0 || rename(tmp, path) < 0) {
        kumo__error_set(t->err, -EIO, "writing %s: %s", path, strerror(errno));
        unlink(tmp);
        return t->err->code;
    }
    char *copy = strdup(path);
    return push_str(t, &t->files, &t->nfiles, copy);
}

int kumo__target_write_yaml(kumo__target_ctx *t, const char *name, json_t *doc, int multi)
{
    kumo__growbuf b = {.max = SIZE_MAX / 2};
    int rc = 0;
    if (doc == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (multi) {
        size_t i;
        json_t *d;
        json_array_foreach(doc, i, d)
        {
            if (kumo__growbuf_add(&b, "---\n", 4) != 0 || kumo__yaml_emit(d, &b) != 0) {
                rc = -ENOMEM;
                goto out;
            }
        }
    } else if (kumo__yaml_emit(doc, &b) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = write_file(t, name, b.data ? b.data : "", b.len, 0644);
out:
    if (rc == -ENOMEM)
        kumo__error_set(t->err, rc, "writing %s: out of memory", name);
    free(b.data);
    json_decref(doc);
    return rc;
}

int kumo__target_write_json(kumo__target_ctx *t, const char *name, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (s == NULL) {
        kumo__error_set(t->err, -ENOMEM, "writing %s: out of memory", name);
        return t->err->code;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* json_dumps's NUL becomes the last newline */
    int rc = write_file(t, name, s, n + 1, 0644);
    free(s);
    return rc;
}

/* ---- shared pieces ---------------------------------------------------------- */

const char *kumo__target_dns_label(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; *s && n + 1 < len; s++) {
        char c = *s;
        if ('A' <= c && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!(('a' <= c && c <= 'z') || ('0' <= c && c <= '9')))
            c = '-';
        if (c == '-' && (n == 0 || buf[n - 1] == '-'))
            continue;
        buf[n++] = c;
    }
    while (n && buf[n - 1] == '-')
        n--;
    buf[n] = '\0';
    return buf;
}

const char *kumo__target_mem_quantity(size_t bytes, char *buf, size_t len)
{
    if (bytes == 0)
        return NULL;
    snprintf(buf, len, "%zuMi", (bytes + (1u << 20) - 1) >> 20);
    return buf;
}

const char *kumo__target_cluster_image(kumo__target_ctx *t, const kumo__target_unit *u, int with_digest)
{
    const char *reg = getenv("KUMO_REGISTRY");
    if (reg == NULL || *reg == '\0')
        reg = "localhost:5000";
    char *s = NULL;
    if (asprintf(&s, "%s/%s%s%s", reg, u->name, with_digest ? "@" : "", with_digest ? u->digest : "") < 0 ||
        push_str(t, &t->scratch, &t->nscratch, s) < 0)
        return "";
    return s;
}

json_t *kumo__target_k8s_env(kumo__target_ctx *t, const kumo__target_unit *u)
{
    json_t *env = json_array();
    for (size_t i = 0; env && i < t->nstores; i++) {
        const kumo__target_store *s = &t->stores[i];
        json_t *e = NULL;
        if (s->secret)
            e = json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", s->var, "valueFrom", "secretKeyRef", "name",
                          t->secret_name, "key", s->var);
        else if (s->url)
            e = json_pack("{s:s, s:s}", "name", s->var, "value", s->url);
        else
            continue;
        if (e == NULL || json_array_append_new(env, e) < 0) {
            json_decref(env);
            return NULL;
        }
    }
    for (size_t i = 0; env && u && i < u->nenv; i++) {
        const kumo__env_var *v = u->env[i].var;
        char key[300];
        json_t *e = v->secret ? json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", v->name, "valueFrom", "secretKeyRef",
                                          "name", t->env_secret, "key", kumo__target_env_key(u, v, key, sizeof key))
                              : json_pack("{s:s, s:s}", "name", v->name, "value", v->value);
        if (e == NULL || json_array_append_new(env, e) < 0) {
            json_decref(env);
            return NULL;
        }
    }
    return env;
}

/* ---- env: ------------------------------------------------------------------- */

/* The sh double-quoted word for `text` (literal: \, ", $ and ` escaped). */
static void sh_dq_literal(char *out, size_t *at, const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\\"$`", text[i]))
            out[(*at)++] = '\\';
        out[(*at)++] = text[i];
    }
}

/* ${file:PATH}'s absolute path (malloc'd). */
static char *ref_path(const kumo__target_ctx *t, const char *path, size_t n)
{
    char *out = NULL;
    if (asprintf(&out, "%s%s%.*s", path[0] == '/' ? "" : t->p->dir, path[0] == '/' ? "" : "/", (int)n, path) < 0)
        return NULL;
    return out;
}

const char *kumo__target_env_sh(kumo__target_ctx *t, const kumo__env_var *v)
{
    size_t cap = 3 + 2 * strlen(v->value), at = 0;
    for (const char *r = strstr(v->value, "${file:"); r; r = strstr(r + 1, "${file:"))
        cap += 16 + 4 * strlen(t->p->dir) + 4 * strlen(r);
    char *out = malloc(cap);
    if (out == NULL || push_str(t, &t->scratch, &t->nscratch, out) < 0)
        return "\"\"";
    out[at++] = '"';
    for (const char *s = v->value; *s;) {
        const char *ref = strstr(s, "${");
        const char *close = ref ? strchr(ref, '}') : NULL;
        if (ref == NULL || close == NULL) {
            sh_dq_literal(out, &at, s, strlen(s));
            break;
        }
        sh_dq_literal(out, &at, s, (size_t)(ref - s));
        if (strncmp(ref, "${env:", 6) == 0) {
            at += (size_t)sprintf(out + at, "${%.*s}", (int)(close - ref - 6), ref + 6);
        } else {
            char *path = ref_path(t, ref + 7, (size_t)(close - ref - 7));
            if (path == NULL) {
                t->oom = 1;
                break;
            }
            at += (size_t)sprintf(out + at, "$(cat %s)", kumo__target_sh_quote(t, path));
            free(path);
        }
        s = close + 1;
    }
    out[at++] = '"';
    out[at] = '\0';
    return out;
}

void kumo__target_env_require(kumo__target_ctx *t)
{
    char **seen = NULL;
    size_t nseen = 0;
    for (size_t u = 0; u < t->nunits; u++)
        for (size_t i = 0; i < t->units[u].nenv; i++) {
            const kumo__env_var *v = t->units[u].env[i].var;
            for (const char *r = v->secret ? strstr(v->value, "${") : NULL; r; r = strstr(r + 1, "${")) {
                const char *close = strchr(r, '}');
                if (close == NULL)
                    break;
                char ref[4200];
                snprintf(ref, sizeof ref, "%.*s", (int)(close - r + 1), r);
                int dup = 0;
                for (size_t k = 0; k < nseen && !dup; k++)
                    dup = strcmp(seen[k], ref) == 0;
                char **grown = dup ? NULL : realloc(seen, (nseen + 1) * sizeof *seen);
                if (dup || grown == NULL || (grown[nseen] = strdup(ref)) == NULL) {
                    if (!dup) {
                        seen = grown ? grown : seen;
                        t->oom = 1;
                    }
                    continue;
                }
                seen = grown;
                nseen++;
                if (strncmp(ref, "${env:", 6) == 0) {
                    kumo__target_cmd(t,
                                     ": \"${%.*s?export %.*s first: kumo.yaml's env %s reads it (a secret: kumo passes "
                                     "it by reference and never writes it)}\"",
                                     (int)(close - r - 6), r + 6, (int)(close - r - 6), r + 6, v->name);
                } else {
                    char *path = ref_path(t, r + 7, (size_t)(close - r - 7));
                    if (path == NULL) {
                        t->oom = 1;
                        continue;
                    }
                    kumo__target_cmd(
                        t, "test -r %s || { echo \"kumo.yaml's env %s reads %s, which is not there\" >&2; exit 1; }",
                        kumo__target_sh_quote(t, path), v->name, kumo__target_sh_quote(t, path));
                    free(path);
                }
            }
        }
    for (size_t k = 0; k < nseen; k++)
        free(seen[k]);
    free(seen);
}

const char *kumo__target_env_key(const kumo__target_unit *u, const kumo__env_var *v, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s", u->unit->name, v->name);
    return buf;
}

void kumo__target_k8s_env_secret(kumo__target_ctx *t, const char *ns)
{
    if (t->nenv_secrets == 0)
        return;
    kumo__target_cmd(t, "# env: secrets: the secret %s, computed here and piped to kubectl (never written to a file)",
                     t->env_secret);
    kumo__target_env_require(t);
    kumo__target_cmd(t, "{");
    kumo__target_cmd(t, "  echo 'apiVersion: v1'; echo 'kind: Secret'; echo 'type: Opaque'");
    kumo__target_cmd(t, "  echo 'metadata: {name: %s, labels: {app.kubernetes.io/part-of: %s}}'", t->env_secret,
                     t->name);
    kumo__target_cmd(t, "  echo 'data:'");
    for (size_t u = 0; u < t->nunits; u++)
        for (size_t i = 0; i < t->units[u].nenv; i++) {
            const kumo__env_var *v = t->units[u].env[i].var;
            char key[300];
            if (v->secret)
                kumo__target_cmd(t, "  echo \"  %s: $(printf %%s %s | base64 | tr -d '\\n')\"",
                                 kumo__target_env_key(&t->units[u], v, key, sizeof key), kumo__target_env_sh(t, v));
        }
    kumo__target_cmd(t, "} | kubectl apply%s -f -", ns);
}

void kumo__target_require_secret_vars(kumo__target_ctx *t)
{
    for (size_t i = 0; i < t->nstores; i++) {
        if (t->stores[i].secret)
            kumo__target_cmd(t,
                             ": \"${%s:?export %s=<the URL of store %s> first: it holds a password, so kumo passes it "
                             "as a secret and never writes it}\"",
                             t->stores[i].var, t->stores[i].var, t->stores[i].store);
    }
}

void kumo__target_k8s_secret(kumo__target_ctx *t, const char *ns)
{
    if (t->nsecrets == 0)
        return;
    /* the manifest is made by the shell's own echo and printf, its values
     * base64'd through a pipe, and read by kubectl on its stdin: a value is
     * never on a command line (what ps shows) nor in a file */
    kumo__target_cmd(t,
                     "# store URLs with a password: the secret %s, from your environment, piped to kubectl (never "
                     "written to a file nor on a command line)",
                     t->secret_name);
    kumo__target_require_secret_vars(t);
    kumo__target_cmd(t, "{");
    kumo__target_cmd(t, "  echo 'apiVersion: v1'; echo 'kind: Secret'; echo 'type: Opaque'");
    kumo__target_cmd(t, "  echo 'metadata: {name: %s, labels: {app.kubernetes.io/part-of: %s}}'", t->secret_name,
                     t->name);
    kumo__target_cmd(t, "  echo 'data:'");
    for (size_t i = 0; i < t->nstores; i++)
        if (t->stores[i].secret)
            kumo__target_cmd(t, "  echo \"  %s: $(printf %%s \"$%s\" | base64 | tr -d '\\n')\"", t->stores[i].var,
                             t->stores[i].var);
    kumo__target_cmd(t, "} | kubectl apply%s -f -", ns);
}

void kumo__target_k8s_push_images(kumo__target_ctx *t)
{
    kumo__target_cmd(t, "# the images, by digest, to $KUMO_REGISTRY (%s)",
                     getenv("KUMO_REGISTRY") && *getenv("KUMO_REGISTRY") ? getenv("KUMO_REGISTRY") : "localhost:5000");
    for (size_t i = 0; i < t->nunits; i++) {
        const kumo__target_unit *u = &t->units[i];
        char tag[64];
        snprintf(tag, sizeof tag, "%.19s", u->digest ? u->digest : "");
        for (char *c = tag; *c; c++)
            if (*c == ':')
                *c = '-';
        char oci[4200], dst[1024];
        snprintf(oci, sizeof oci, "oci:%s", u->layout);
        snprintf(dst, sizeof dst, "docker://%s:%s", kumo__target_cluster_image(t, u, 0), tag);
        kumo__target_cmd(t, "skopeo copy --preserve-digests %s %s", kumo__target_sh_quote(t, oci),
                         kumo__target_sh_quote(t, dst));
    }
}

/* ---- events ----------------------------------------------------------------- */

int kumo__target_cron(const kumo__event_decl *e, int seconds, char *out, size_t cap, int *utc, const char **why)
{
    static const struct {
        const char *name, *cron;
    } names[] = {{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                 {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
                 {"@annually", "0 0 1 1 *"}};
    const char *x = e->schedule ? e->schedule : "";
    char five[KUMO__SCHEDULE_MAX + 16], *f[7];
    *utc = 0;
    while (*x == ' ' || *x == '\t')
        x++;
    if (strncmp(x, "every ", 6) == 0) {
        char *end;
        unsigned long n = strtoul(x + 6, &end, 10);
        char unit = *end;
        *utc = 1;
        if (unit == 's' && n > 0 && n < 60 && 60 % n == 0) {
            if (!seconds) {
                *why = "has a seconds interval; the platform's finest schedule unit is a minute: use every 1m or "
                       "more";
                return -EINVAL;
            }
            snprintf(out, cap, n == 1 ? "* * * * * *" : "*/%lu * * * * *", n);
            return 0;
        }
        if (unit == 's' && n % 60 == 0)
            n /= 60, unit = 'm';
        if (unit == 'm' && n >= 60 && n % 60 == 0)
            n /= 60, unit = 'h';
        if (unit == 'h' && n == 24)
            n = 1, unit = 'd';
        if (unit == 'm' && n > 0 && n < 60 && 60 % n == 0)
            snprintf(five, sizeof five, n == 1 ? "* * * * *" : "*/%lu * * * *", n);
        else if (unit == 'h' && n > 0 && n < 24 && 24 % n == 0)
            snprintf(five, sizeof five, n == 1 ? "0 * * * *" : "0 */%lu * * *", n);
        else if (unit == 'd' && n == 1)
            snprintf(five, sizeof five, "0 0 * * *");
        else {
            *why = "is an interval that no cron line repeats evenly (a cron step starts again each minute, hour or "
                   "day); use an interval that divides 60 seconds, 60 minutes or 24 hours, or 1d, or a cron "
                   "expression";
            return -EINVAL;
        }
        x = five;
    } else if (*x == '@') {
        const char *c = NULL;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcasecmp(x, names[i].name) == 0)
                c = names[i].cron;
        if (c == NULL) {
            *why = "is a name the deploy targets do not know";
            return -EINVAL;
        }
        x = c;
    }
    char buf[KUMO__SCHEDULE_MAX + 16];
    snprintf(buf, sizeof buf, "%s", x);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, " \t", &save); tok && n < 7; tok = strtok_r(NULL, " \t", &save))
        f[n++] = tok;
    if (n != 5 && n != 6) {
        *why = "is not a 5- or 6-field cron expression";
        return -EINVAL;
    }
    if (n == 6 && !seconds) {
        if (strcmp(f[0], "0") != 0) {
            *why = "has a seconds field; the platform's schedules have none (its finest unit is a minute): drop the "
                   "seconds field, or make it 0";
            return -EINVAL;
        }
        snprintf(out, cap, "%s %s %s %s %s", f[1], f[2], f[3], f[4], f[5]);
        return 0;
    }
    if (n == 5 && seconds) {
        snprintf(out, cap, "0 %s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
        return 0;
    }
    if (n == 6)
        snprintf(out, cap, "%s %s %s %s %s %s", f[0], f[1], f[2], f[3], f[4], f[5]);
    else
        snprintf(out, cap, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
    return 0;
}

static const char *kind_word(kumo__event_kind k)
{
    switch (k) {
    case KUMO__EVENT_SCHEDULE: return "schedule";
    case KUMO__EVENT_QUEUE: return "queue";
    case KUMO__EVENT_TOPIC: return "topic";
    case KUMO__EVENT_BLOB: return "blob";
    case KUMO__EVENT_CLOUDEVENT: return "cloudevent";
    }
    return "?";
}

/* The key naming e's source ("queue", "topic", ...). */
static const char *kind_word_key(const kumo__event_decl *e)
{
    return kind_word(e->kind);
}

/* What each target carries (docs/events.md, "On every target"). */
int kumo__target_check_events(const kumo__project *p, const char *target, kumo__error *err)
{
    if (strcmp(target, "aws") == 0)
        return 0; /* the template (cfn_template.c) refuses what AWS cannot express, before any zip is built */
    int gcp = strcmp(target, "gcp") == 0, azure = strcmp(target, "azure") == 0,
        knative = strcmp(target, "knative") == 0, k8s = strcmp(target, "kubernetes") == 0,
        faas = strcmp(target, "openfaas") == 0;
    const kumo__event_decl *zone_of = NULL, *queue_of = NULL;
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        const char *why = NULL;
        char cron[KUMO__SCHEDULE_MAX + 16];
        int utc = 0;
        switch (e->kind) {
        case KUMO__EVENT_SCHEDULE:
            if (kumo__target_cron(e, azure, cron, sizeof cron, &utc, &why) < 0)
                return kumo__project_event_error(err, p, e, "schedule", "schedule \"%s\" %s (%s)", e->schedule, why,
                                                 target);
            if (faas && e->timezone && strcmp(e->timezone, "UTC") != 0 && !utc)
                return kumo__project_event_error(
                    err, p, e, "timezone",
                    "timezone %s: the OpenFaaS cron-connector reads every schedule in UTC and has no time "
                    "zone setting; write the schedule in UTC (timezone: UTC)",
                    e->timezone);
            if (e->missed_once && (gcp || knative || faas))
                return kumo__project_event_error(
                    err, p, e, "missed",
                    "missed: once: %s never runs a tick it missed; use missed: skip (the default) on this "
                    "target",
                    gcp       ? "Cloud Scheduler"
                    : knative ? "a Knative PingSource"
                              : "the OpenFaaS cron-connector");
            if (e->overlap && azure)
                return kumo__project_event_error(
                    err, p, e, "overlap",
                    "overlap: true: an Azure timer trigger never overlaps its own runs (it holds a lease "
                    "while one runs); use overlap: false on azure");
            if (azure) {
                const char *z = utc || !e->timezone ? "UTC" : e->timezone;
                if (zone_of) {
                    const char *zo = zone_of->timezone ? zone_of->timezone : "UTC";
                    if (strcmp(z, zo) != 0)
                        return kumo__project_event_error(
                            err, p, e, "timezone",
                            "timezone %s: an Azure function app has one time zone (WEBSITE_TIME_ZONE) for "
                            "all its timer triggers, and events.%s reads %s; give every schedule the same "
                            "timezone:",
                            z, zone_of->name, zo);
                } else if (!utc) {
                    zone_of = e;
                }
            }
            break;
        case KUMO__EVENT_QUEUE:
        case KUMO__EVENT_TOPIC:
            if (e->data)
                return kumo__project_event_error(
                    err, p, e, "data",
                    "data: is not checked on %s yet: kumo-host hands a pushed or consumed message to the handler "
                    "without validating it against the schema; remove data: for this target (kumo up and aws "
                    "check it)",
                    target);
            if ((knative || k8s || faas) && e->kind == KUMO__EVENT_TOPIC)
                return kumo__project_event_error(
                    err, p, e, "topic",
                    "topic events are not carried to %s yet: kumo-host consumes queue: events itself (KUMO_CONSUME), "
                    "but a topic subscription's queue lives in the topic's driver, which it does not read yet; run it "
                    "under kumo up, or deploy to gcp (Pub/Sub push)",
                    target);
            if (azure && e->kind == KUMO__EVENT_TOPIC)
                return kumo__project_event_error(
                    err, p, e, kind_word_key(e),
                    "topic events are not carried to azure: a queue trigger reads one Storage queue, and "
                    "kumo has no Service Bus topics; use a queue: event, or deploy to gcp or aws");
            if (gcp && (e->max_receives < 5 || e->max_receives > 100))
                return kumo__project_event_error(
                    err, p, e, "max_receives",
                    "max_receives: %u: a Pub/Sub dead-letter policy takes 5 to 100 delivery attempts; set "
                    "max_receives: between 5 and 100",
                    e->max_receives);
            if (gcp && e->visibility_ms > 600000)
                return kumo__project_event_error(
                    err, p, e, "visibility",
                    "visibility: %llu s: a Pub/Sub subscription's ack deadline is at most 600 s; set "
                    "visibility: 600s or less (and the unit's timeout below it)",
                    (unsigned long long)(e->visibility_ms / 1000));
            if (azure && e->batch > 32)
                return kumo__project_event_error(
                    err, p, e, "batch",
                    "batch: %u: an Azure queue trigger takes at most 32 messages at a time (batchSize); "
                    "set batch: 32 or less",
                    e->batch);
            if (azure && queue_of &&
                (queue_of->batch != e->batch || queue_of->max_receives != e->max_receives ||
                 queue_of->backoff_ms != e->backoff_ms))
                return kumo__project_event_error(
                    err, p, e, "queue",
                    "an Azure function app has one batchSize, maxDequeueCount and visibilityTimeout (host."
                    "json) for all its queue triggers, and events.%s sets batch %u, max_receives %u, "
                    "backoff %llu ms; give every queue event the same batch:, max_receives: and backoff:",
                    queue_of->name, queue_of->batch, queue_of->max_receives, (unsigned long long)queue_of->backoff_ms);
            if (azure && !queue_of)
                queue_of = e;
            break;
        case KUMO__EVENT_BLOB:
            if (knative || k8s || faas)
                return kumo__project_event_error(
                    err, p, e, "blob",
                    "blob events are not carried to %s yet: nothing on the cluster watches a kumo blob "
                    "store (kumo-host consumes queue: events only, issue 13); run it under kumo up, or deploy to "
                    "gcp (Eventarc) or azure (blob trigger)",
                    target);
            if (azure && (e->on & KUMO__BLOB_DELETED))
                return kumo__project_event_error(
                    err, p, e, "on",
                    "on: [deleted]: an Azure blob trigger fires for new and updated blobs only; there is "
                    "no deleted trigger (Event Grid is not deployed by kumo): use on: [created]");
            break;
        case KUMO__EVENT_CLOUDEVENT: break;
        }
    }
    return 0;
}

/* ---- images ----------------------------------------------------------------- */

/* A file's modification time in nanoseconds, 0 when it is not there. */
static long long mtime_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec : 0;
}

/* The digest of the first manifest of the OCI layout at `layout`
 * (malloc'd), or NULL when it has none. */
static char *layout_digest(const char *layout)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.json", layout);
    json_t *idx = json_load_file(path, 0, NULL);
    const char *d = json_string_value(json_object_get(json_array_get(json_object_get(idx, "manifests"), 0), "digest"));
    char *out = d && strncmp(d, "sha256:", 7) == 0 ? strdup(d) : NULL;
    json_decref(idx);
    return out;
}

/* Whether `artifact` is there and newer than what went into it: the
 * project file, the API document and every unit's sources. */
static int fresh(const kumo__target_ctx *t, const char *artifact)
{
    /* an input as new as the artifact (written in the same instant the
     * clock can tell) counts as changed */
    long long built = mtime_of(artifact);
    if (built == 0)
        return 0;
    char yaml[4200];
    snprintf(yaml, sizeof yaml, "%s/kumo.yaml", t->p->dir);
    if (mtime_of(yaml) >= built || mtime_of(t->p->api_path) >= built)
        return 0;
    for (size_t u = 0; u < t->p->nunits; u++) {
        for (size_t i = 0; i < t->p->units[u].nsources; i++) {
            if (mtime_of(t->p->units[u].sources[i]) >= built)
                return 0;
        }
    }
    return 1;
}

int kumo__target_build(kumo__target_ctx *t, const char *artifact, kumo__artifacts *out)
{
    if (fresh(t, artifact))
        return 0;
    int rc = kumo__build_target(t->p->dir, t->o->target, out, t->err);
    if (rc < 0) {
        kumo__error_wrap(t->err, "building for %s", t->o->target);
        return rc;
    }
    return 1;
}

static int images(kumo__target_ctx *t)
{
    int rc, built = 0;
    kumo__artifacts arts = {0};
    for (size_t i = 0; i < t->nunits; i++) {
        kumo__target_unit *u = &t->units[i];
        char index[4200];
        if (asprintf(&u->layout, "%s/.kumo/build/%s/%s", t->p->dir, t->o->target, u->unit->name) < 0) {
            u->layout = NULL;
            return kumo__spec_oom(t->err);
        }
        snprintf(index, sizeof index, "%s/index.json", u->layout);
        if (!built && (rc = kumo__target_build(t, index, &arts)) < 0)
            return rc;
        built |= rc == 1;
    }
    for (size_t i = 0; i < arts.n; i++) {
        for (size_t j = 0; j < t->nunits; j++) {
            kumo__target_unit *u = &t->units[j];
            if (arts.items[i].unit && strcmp(arts.items[i].unit, u->unit->name) == 0 && arts.items[i].path) {
                char *p = strdup(arts.items[i].path);
                if (p) {
                    free(u->layout);
                    u->layout = p;
                }
            }
        }
    }
    if (built)
        kumo__artifacts_free(&arts);
    for (size_t i = 0; i < t->nunits; i++) {
        kumo__target_unit *u = &t->units[i];
        if ((u->digest = layout_digest(u->layout)) == NULL) {
            kumo__error_set(t->err, -ENOENT,
                            "%s/index.json names no image manifest; rebuild with kumo build --target %s %s", u->layout,
                            t->o->target, t->o->dir ? t->o->dir : ".");
            return t->err->code;
        }
    }
    return 0;
}

/* ---- the deploy ------------------------------------------------------------- */

/* Whether driver d makes stores of this kind itself. */
static int provisions(const kumo__target_driver *d, const char *kind)
{
    size_t n = strlen(kind);
    for (const char *w = d->provisions; w && *w; w += strcspn(w, " "), w += *w == ' ')
        if (strncmp(w, kind, n) == 0 && (w[n] == ' ' || w[n] == '\0'))
            return 1;
    return 0;
}

/* The stores as the plan places them in the deployed environment: a URL
 * that kumo.yaml gives, else the embedded default inside each container.
 * The deployer's own KUMO_STORE_* variables are not the deployment's, so
 * the plan is built without them. */
static int stores(kumo__target_ctx *t, const kumo__target_driver *d)
{
    int rc = kumo__store_plan_build(t->p, t->env_name, NULL, NULL, NULL, &t->plan, t->err);
    if (rc < 0 || t->plan.n == 0)
        return rc;
    if ((t->stores = calloc(t->plan.n, sizeof *t->stores)) == NULL)
        return kumo__spec_oom(t->err);
    for (size_t i = 0; i < t->plan.n; i++) {
        const kumo__store_place *pl = &t->plan.stores[i];
        kumo__target_store *s = &t->stores[t->nstores++];
        s->store = pl->name;
        s->kind = kumo__store_kind_name(pl->kind);
        snprintf(s->var, sizeof s->var, "%s", pl->var);
        if (pl->origin == KUMO__STORE_FROM_DEFAULT) {
            s->unplaced = 1;
            int listed = 0;
            for (size_t k = 0; t->env && k < t->env->nembedded; k++)
                listed |= strcmp(t->env->embedded[k], s->store) == 0;
            if (!listed && provisions(d, s->kind)) {
                s->provisioned = 1; /* the target makes it (target_gcp.c, target_azure.c) */
                continue;
            }
            int accepted = listed || t->o->destroy; /* nothing of it is deployed by a destroy */
            if (accepted) {
                kumo__target_note(t,
                                  "store '%s' keeps its embedded default (environments.%s.embedded): each instance "
                                  "has a copy of its own, lost when the instance stops",
                                  s->store, t->env_name);
                continue;
            }
            /* several replicas, each with its own copy: a write on one is
             * not there for the next request on another */
            if (t->env_name)
                kumo__error_set(t->err, -EINVAL,
                                "%s: store '%s' has no URL in environment '%s', so each of the target's replicas "
                                "would keep its own embedded copy (a write on one is missing on the next); place "
                                "it (environments.%s.stores.%s: URL) or accept copies per replica "
                                "(environments.%s.embedded: [%s])",
                                kumo__doc_path(t->p->doc), s->store, t->env_name, t->env_name, s->store, t->env_name,
                                s->store);
            else
                kumo__error_set(t->err, -EINVAL,
                                "%s: store '%s' has no URL (no environment is chosen), so each of the target's "
                                "replicas would keep its own embedded copy (a write on one is missing on the next); "
                                "add an environment that places it (environments: {prod: {stores: {%s: URL}}}) or "
                                "accepts a copy per replica (environments: {prod: {embedded: [%s]}}), and deploy "
                                "with --env prod",
                                kumo__doc_path(t->p->doc), s->store, s->store, s->store);
            return t->err->code;
        }
        if (strcmp(pl->shown, pl->url) != 0) {
            s->secret = 1;
            t->nsecrets++;
        } else {
            s->url = pl->url;
        }
    }
    return 0;
}

/* Each unit's env: variables in the environment deployed, and the names a
 * platform sets itself refused at their line. */
static int env_vars(kumo__target_ctx *t, const kumo__target_driver *d)
{
    static const char *const knative_own[] = {"K_SERVICE", "K_REVISION", "K_CONFIGURATION", NULL};
    int knative = strcmp(d->name, "gcp") == 0 || strcmp(d->name, "knative") == 0;
    if (asprintf(&t->env_secret, "%s-env", t->secret_name) < 0) {
        t->env_secret = NULL;
        return kumo__spec_oom(t->err);
    }
    /* kumo-<name>-stores-env reads badly: kumo-<name>-env */
    char *cut = strstr(t->env_secret, "-stores-env");
    if (cut)
        memmove(cut, cut + 7, strlen(cut + 7) + 1);
    for (size_t i = 0; i < t->nunits; i++) {
        kumo__target_unit *u = &t->units[i];
        int rc = kumo__env_effective(t->p, u->unit, t->env_name, &u->env, &u->nenv, t->err);
        if (rc < 0)
            return rc;
        for (size_t k = 0; k < u->nenv; k++) {
            const kumo__env_var *v = u->env[k].var;
            t->nenv_secrets += v->secret;
            for (size_t j = 0; knative && knative_own[j]; j++)
                if (strcmp(v->name, knative_own[j]) == 0) {
                    kumo__error_set(t->err, -EINVAL,
                                    "%s:%d:%d: env %s: %s sets K_SERVICE, K_REVISION and K_CONFIGURATION itself; "
                                    "rename it",
                                    kumo__doc_path(t->p->doc), v->line, v->col, v->name, d->name);
                    return t->err->code;
                }
        }
    }
    return 0;
}

static void ctx_free(kumo__target_ctx *t)
{
    for (size_t i = 0; i < t->nunits; i++)
        free(t->units[i].env);
    free(t->env_secret);
    for (size_t i = 0; i < t->nunits; i++) {
        free(t->units[i].name);
        free(t->units[i].layout);
        free(t->units[i].digest);
    }
    free(t->units);
    free(t->stores);
    kumo__store_plan_free(&t->plan);
    for (size_t i = 0; i < t->nfiles; i++)
        free(t->files[i]);
    free(t->files);
    for (size_t i = 0; i < t->nnotes; i++)
        free(t->notes[i]);
    free(t->notes);
    for (size_t i = 0; i < t->nscratch; i++)
        free(t->scratch[i]);
    free(t->scratch);
    free(t->script);
    free(t->name);
    free(t->secret_name);
    free(t->out_dir);
    kumo__spec_free(t->spec);
    kumo__project_free(t->p);
}

/* Whether `tool` is an executable file in a folder of $PATH. */
/* An ARM template's resources, one line each (type and name), under its
 * path: what the deploy creates. Nothing for any other file. */
static void print_template_resources(const char *path)
{
    size_t n = strlen(path);
    if (n < 5 || strcmp(path + n - 5, ".json") != 0)
        return;
    json_t *root = json_load_file(path, 0, NULL);
    json_t *res = json_object_get(root, "resources");
    if (json_is_array(res) && json_is_string(json_object_get(root, "$schema"))) {
        size_t i;
        json_t *r;
        json_array_foreach(res, i, r)
        {
            const char *type = json_string_value(json_object_get(r, "type"));
            const char *name = json_string_value(json_object_get(r, "name"));
            printf("    %-58s %s\n", type ? type : "?", name ? name : "?");
        }
    }
    json_decref(root);
}

static int on_path(const char *tool)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return 0;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        char buf[4200];
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? path : ".", tool);
        if (access(buf, X_OK) == 0)
            return 1;
        path += n + (end != NULL);
    }
    return 0;
}

static int run_script(kumo__target_ctx *t, const char *script)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        kumo__error_set(t->err, -errno, "running %s: %s", script, strerror(errno));
        return t->err->code;
    }
    if (pid == 0) {
        execl("/bin/sh", "sh", "-eu", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            kumo__error_set(t->err, -errno, "waiting for %s: %s", script, strerror(errno));
            return t->err->code;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        kumo__error_set(t->err, -EIO,
                        "%s stopped (%s %d); its output above shows the command that failed; fix it and run kumo "
                        "deploy again, or run the script by hand",
                        script, WIFEXITED(status) ? "exit status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return t->err->code;
    }
    return 0;
}

int kumo__deploy_other(const kumo__deploy_opts *o, kumo__error *err)
{
    const kumo__target_driver *d = NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        if (o->target && strcmp(drivers[i]->name, o->target) == 0)
            d = drivers[i];
    }
    if (d == NULL) {
        kumo__error_set(err, -EINVAL, "unknown target '%s'; the targets are %s", o->target ? o->target : "",
                        KUMO__TARGETS);
        return err->code;
    }
    kumo__target_ctx t = {.o = o, .err = err};
    char label[64];
    int rc = kumo__project_load(o->dir ? o->dir : ".", &t.p, err);
    if (rc < 0 || (rc = kumo__target_check_events(t.p, d->name, err)) < 0)
        goto out;
    if ((rc = kumo__project_pick_environment(t.p, o->env, &t.env_name, err)) < 0)
        goto out;
    t.env = kumo__project_environment(t.p, t.env_name);
    kumo__target_dns_label(o->stack ? o->stack : t.p->name, label, 31); /* with a unit: <= 49 (Cloud Run) */
    if (label[0] == '\0' || ('0' <= label[0] && label[0] <= '9')) {
        kumo__error_set(err, -EINVAL,
                        "'%s' gives no usable resource name (lower-case letters, digits and '-', starting with a "
                        "letter); rename the project or pass --stack NAME",
                        o->stack ? o->stack : t.p->name);
        rc = err->code;
        goto out;
    }
    if (asprintf(&t.secret_name, "kumo-%s-stores", label) < 0)
        t.secret_name = NULL;
    if (asprintf(&t.out_dir, "%s/.kumo/deploy/%s", t.p->dir, d->name) < 0)
        t.out_dir = NULL;
    if ((t.name = strdup(label)) == NULL || t.secret_name == NULL || t.out_dir == NULL) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    if ((rc = kumo__mkdirs(t.out_dir, 0755)) < 0) {
        kumo__error_set(err, rc, "creating %s: %s", t.out_dir, strerror(-rc));
        goto out;
    }
    if ((t.units = calloc(t.p->nunits ? t.p->nunits : 1, sizeof *t.units)) == NULL) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    for (size_t i = 0; i < t.p->nunits; i++) {
        char ul[64];
        kumo__target_dns_label(t.p->units[i].name, ul, 19);
        t.units[i].unit = &t.p->units[i];
        if (asprintf(&t.units[i].name, "%s-%s", t.name, ul) < 0) {
            t.units[i].name = NULL;
            rc = kumo__spec_oom(err);
            goto out;
        }
        t.nunits++;
    }
    if ((rc = stores(&t, d)) < 0 || (rc = env_vars(&t, d)) < 0)
        goto out;
    if (d->images && !o->destroy && (rc = images(&t)) < 0)
        goto out;
    kumo__target_cmd(&t, "#!/bin/sh");
    kumo__target_cmd(&t, "# kumo %s --target %s%s%s: written by kumo; it prints no secret.",
                     o->destroy ? "destroy" : "deploy", d->name, t.env_name ? " --env " : "",
                     t.env_name ? t.env_name : "");
    kumo__target_cmd(&t, "set -eu");
    if ((rc = d->generate(&t)) < 0)
        goto out;
    if (t.oom) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    const char *script_name = o->destroy ? "destroy.sh" : "deploy.sh";
    if ((rc = write_file(&t, script_name, t.script, t.script_len, 0755)) < 0)
        goto out;
    printf("kumo %s --target %s%s%s%s\n", o->destroy ? "destroy" : "deploy", d->name, t.env_name ? " --env " : "",
           t.env_name ? t.env_name : "", o->dry_run ? " --dry-run" : "");
    printf("files in %s:\n", t.out_dir);
    for (size_t i = 0; i < t.nfiles; i++) {
        printf("  %s\n", t.files[i]);
        print_template_resources(t.files[i]);
    }
    for (size_t i = 0; i < t.nnotes; i++)
        printf("note: %s\n", t.notes[i]);
    printf("commands (%s):\n%s", kumo__target_path(&t, script_name), t.script);
    fflush(stdout);
    if (o->dry_run)
        goto out;
    char tools[256];
    snprintf(tools, sizeof tools, "%s%s", d->tools, d->images && !o->destroy ? " skopeo" : "");
    for (char *save = NULL, *tool = strtok_r(tools, " ", &save); tool; tool = strtok_r(NULL, " ", &save)) {
        if (!on_path(tool)) {
            kumo__error_set(err, -ENOENT,
                            "%s: '%s' is not on PATH, and the commands above need it; install it, or run kumo %s "
                            "--target %s --dry-run to only write the files and print the commands",
                            d->name, tool, o->destroy ? "destroy" : "deploy", d->name);
            rc = err->code;
            goto out;
        }
    }
    rc = run_script(&t, kumo__target_path(&t, script_name));
out:
    if (rc < 0 && err->code == 0)
        kumo__error_set(err, rc, "%s: %s", o->target, strerror(-rc));
    ctx_free(&t);
    return rc < 0 ? rc : 0;
}
