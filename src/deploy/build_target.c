/*
 * build_target.c: kumo__build_target (deploy.h), what `kumo build --target
 * T` does once the units are compiled. Every target starts from a bundle
 * (bundle.h) gathered into a staging folder under DIR/.kumo/build/T/ and
 * wraps it:
 *
 *   aws         one zip per unit, T/UNIT.zip; bootstrap runs the lambda adapter
 *               for that unit (Lambda's provided.al2023 runtime execs it)
 *   gcp, knative, openfaas, kubernetes
 *               one OCI image layout per unit, T/UNIT/, the bundle under /kumo,
 *               entrypoint the bundled loader running kumo-host's http adapter,
 *               PORT=8080 (Cloud Run and Knative set their own; of-watchdog's
 *               http mode forwards to it)
 *   azure       one function app, azure/app/ and azure/app.zip: the bundle of
 *               every unit at its root (bootstrap serves them all over http on
 *               FUNCTIONS_CUSTOMHANDLER_PORT), host.json naming bootstrap as the
 *               custom handler with HTTP forwarding, and one folder per
 *               operation whose function.json binds its method and route
 *
 * Each artifact's digest is the sha256 of the zip, or of the image
 * manifest; sizes are bytes on disk.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy/bundle.h"
#include "deploy/deploy.h"
#include "deploy/oci.h"
#include "deploy/target.h"
#include "deploy/zip.h"
#include "runtime/runtime.h"

static const char *const image_targets[] = {"gcp", "knative", "openfaas", "kubernetes"};

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

void kumo__artifacts_free(kumo__artifacts *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->items[i].unit);
        free(a->items[i].path);
        free(a->items[i].digest);
    }
    free(a->items);
    a->items = NULL;
    a->n = 0;
}

/* Appends an artifact; takes `digest`. */
static int push_artifact(kumo__artifacts *a, const char *unit, const char *path, char *digest, uint64_t size,
                         kumo__error *err)
{
    kumo__artifact *ni = realloc(a->items, (a->n + 1) * sizeof(*ni));
    if (ni == NULL) {
        free(digest);
        return oom(err);
    }
    a->items = ni;
    kumo__artifact *it = &a->items[a->n];
    it->unit = unit ? strdup(unit) : NULL;
    it->path = strdup(path);
    it->digest = digest;
    it->size = size;
    a->n++;
    if ((unit && it->unit == NULL) || it->path == NULL)
        return oom(err);
    return 0;
}

/* "sha256:<hex>" of the file at `path` (malloc'd into *out) and its size. */
static int file_digest(const char *path, char **out, uint64_t *size, kumo__error *err)
{
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf = malloc(1 << 16);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    *out = NULL;
    *size = 0;
    if (buf == NULL || md == NULL) {
        rc = oom(err);
        goto out;
    }
    if (fd < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "cannot read %s: %s", path, strerror(-rc));
        goto out;
    }
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (;;) {
        ssize_t r = read(fd, buf, 1 << 16);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            kumo__error_set(err, rc, "reading %s: %s", path, strerror(-rc));
            goto out;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)r);
        *size += (uint64_t)r;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    char *s = malloc(8 + 2 * n);
    if (s == NULL) {
        rc = oom(err);
        goto out;
    }
    strcpy(s, "sha256:");
    for (unsigned i = 0; i < n; i++)
        sprintf(s + 7 + 2 * i, "%02x", d[i]);
    *out = s;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    EVP_MD_CTX_free(md);
    return rc;
}

/* Zips every file under `root` (in kumo__tree_list's order) into `zip_path`,
 * through a temporary file renamed over it. */
static int zip_tree(const char *root, const char *zip_path, kumo__error *err)
{
    kumo__tree tree;
    kumo__zip_writer *z = NULL;
    char tmp[PATH_MAX], path[PATH_MAX];
    int rc = kumo__tree_list(root, &tree, err);
    if (rc < 0)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s.partial", zip_path);
    if ((rc = kumo__zip_open(tmp, &z, err)) < 0)
        goto out;
    for (size_t i = 0; i < tree.n && rc == 0; i++) {
        if (tree.items[i].is_dir)
            continue;
        snprintf(path, sizeof(path), "%s/%s", root, tree.items[i].path);
        rc = kumo__zip_add_file(z, tree.items[i].path, path, err);
    }
    if (rc < 0) {
        kumo__error cerr = {0};
        kumo__zip_close(z, &cerr);
        goto out;
    }
    if ((rc = kumo__zip_close(z, err)) < 0)
        goto out;
    if (rename(tmp, zip_path) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "renaming %s: %s", tmp, strerror(-rc));
        unlink(tmp);
    }
out:
    kumo__tree_free(&tree);
    return rc;
}

/* ---- aws --------------------------------------------------------------------- */

/* Lambda's provided.al2023 runs on glibc 2.34: a package whose files ask
 * for no more uses it (bundle.h), and carries no glibc of its own. */
#define LAMBDA_GLIBC 34

static int build_aws_unit(const kumo__project *p, const kumo__unit *u, const char *outdir, const char *host,
                          kumo__artifacts *out, kumo__error *err)
{
    char stage[PATH_MAX], zip[PATH_MAX];
    char *loader = NULL, *digest = NULL;
    uint64_t size;
    snprintf(stage, sizeof(stage), "%s/.stage-%s", outdir, u->name);
    snprintf(zip, sizeof(zip), "%s/%s.zip", outdir, u->name);
    kumo__rmtree(stage);
    kumo__bundle_info info = {.host = host};
    int rc = kumo__bundle_write(p, u->name, "lambda", LAMBDA_GLIBC, stage, &loader, &info, err);
    if (rc < 0)
        goto out;
    if (!info.lean && host == NULL)
        fprintf(stderr, "kumo build: unit '%s' is packaged with kumo-host, not the lean kumo-lambda: %s\n", u->name,
                info.why);
    if ((rc = zip_tree(stage, zip, err)) < 0 || (rc = file_digest(zip, &digest, &size, err)) < 0)
        goto out;
    rc = push_artifact(out, u->name, zip, digest, size, err);
    digest = NULL;
out:
    kumo__rmtree(stage);
    free(loader);
    free(digest);
    if (rc < 0)
        kumo__error_wrap(err, "packaging unit '%s' for aws", u->name);
    return rc;
}

/* ---- images -------------------------------------------------------------------- */

static int build_image_unit(const kumo__project *p, const kumo__unit *u, const char *host, const char *outdir,
                            kumo__artifacts *out, kumo__error *err)
{
    char stage[PATH_MAX], layout[PATH_MAX], loader_path[PATH_MAX];
    char *loader = NULL, *digest = NULL;
    uint64_t size = 0;
    snprintf(stage, sizeof(stage), "%s/.stage-%s", outdir, u->name);
    snprintf(layout, sizeof(layout), "%s/%s", outdir, u->name);
    kumo__rmtree(stage);
    kumo__bundle_info info = {.host = host};
    int rc = kumo__bundle_write(p, u->name, "http", 0, stage, &loader, &info, err);
    if (rc < 0)
        goto out;
    if (!info.lean && host == NULL)
        fprintf(stderr, "kumo build: unit '%s' is packaged with kumo-host, not the lean kumo-http: %s\n", u->name,
                info.why);
    snprintf(loader_path, sizeof(loader_path), "/kumo/lib/%s", loader);
    char bin_path[64];
    snprintf(bin_path, sizeof(bin_path), "/kumo/bin/%s", info.bin);
    const char *entrypoint[] = {loader_path, "--library-path", "/kumo/lib", bin_path,
                                "http",      "/kumo/app",      u->name,     NULL};
    const char *env[] = {"PORT=8080", NULL};
    kumo__oci_image img = {
        .root = stage,
        .prefix = "kumo",
        .entrypoint = entrypoint,
        .env = env,
        .exposed_port = "8080/tcp",
        .workdir = "/kumo",
        .ref_name = "latest",
        .title = u->name,
    };
    if ((rc = kumo__oci_write(layout, &img, &digest, &size, err)) < 0)
        goto out;
    rc = push_artifact(out, u->name, layout, digest, size, err);
    digest = NULL;
out:
    kumo__rmtree(stage);
    free(loader);
    free(digest);
    if (rc < 0)
        kumo__error_wrap(err, "building the image of unit '%s'", u->name);
    return rc;
}

/* ---- azure ---------------------------------------------------------------------- */

/* A function name Azure takes (a letter first, then letters, digits, '_'
 * and '-'), from the operationId or else METHOD_path; made unique against
 * `taken` and the bundle's own top-level names. */
static char *function_name(const kumo__operation *op, json_t *taken)
{
    char base[128], name[140];
    size_t n = 0;
    if (op->operation_id && *op->operation_id) {
        for (const char *s = op->operation_id; *s && n < sizeof(base) - 1; s++)
            base[n++] = (isalnum((unsigned char)*s) || *s == '_' || *s == '-') ? *s : '_';
    } else {
        for (const char *s = op->method; *s && n < sizeof(base) - 1; s++)
            base[n++] = (char)tolower((unsigned char)*s);
        for (const char *s = op->path; *s && n < sizeof(base) - 1; s++)
            if (isalnum((unsigned char)*s))
                base[n++] = *s;
            else if (n > 0 && base[n - 1] != '_')
                base[n++] = '_';
        while (n > 0 && base[n - 1] == '_')
            n--;
    }
    base[n] = '\0';
    if (!isalpha((unsigned char)base[0]))
        snprintf(name, sizeof(name), "op_%s", base);
    else
        snprintf(name, sizeof(name), "%s", base);
    char unique[160];
    snprintf(unique, sizeof(unique), "%s", name);
    for (int i = 2; json_object_get(taken, unique) || strcmp(unique, "app") == 0 || strcmp(unique, "bin") == 0 ||
                    strcmp(unique, "lib") == 0;
         i++)
        snprintf(unique, sizeof(unique), "%s_%d", name, i);
    json_object_set_new(taken, unique, json_true());
    return strdup(unique);
}

/* The Azure route of an OpenAPI path: no leading '/', base path kept,
 * template names reduced to what ASP.NET route templates take. kumo-host
 * routes the forwarded request itself, so only the shape matters. */
static char *azure_route(const char *base_path, const char *path)
{
    size_t cap = strlen(base_path) + strlen(path) + 1;
    char *r = malloc(cap), *w = r;
    if (r == NULL)
        return NULL;
    char joined[PATH_MAX];
    snprintf(joined, sizeof(joined), "%s%s", base_path, path);
    const char *s = joined;
    while (*s == '/')
        s++;
    int in_param = 0;
    for (; *s; s++) {
        if (*s == '{')
            in_param = 1;
        else if (*s == '}')
            in_param = 0;
        else if (in_param && !isalnum((unsigned char)*s) && *s != '_') {
            *w++ = '_';
            continue;
        }
        *w++ = *s;
    }
    *w = '\0';
    return r;
}

static int write_json_file(const char *path, json_t *j, kumo__error *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = kumo__mkdirs(dir, 0755);
    if (rc == 0 && json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
        rc = -EIO;
    if (rc < 0)
        kumo__error_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
    return rc;
}

static int build_azure(const kumo__project *p, const char *want_host, const char *outdir, kumo__artifacts *out,
                       kumo__error *err)
{
    char app[PATH_MAX], zip[PATH_MAX], path[PATH_MAX];
    char *loader = NULL, *digest = NULL;
    kumo__spec *spec = NULL;
    json_t *taken = json_object(), *host = NULL;
    uint64_t size;
    int rc = 0;
    if (taken == NULL)
        return oom(err);
    snprintf(app, sizeof(app), "%s/app", outdir);
    snprintf(zip, sizeof(zip), "%s/app.zip", outdir);
    if ((rc = kumo__spec_load(p->api_path, &spec, err)) < 0)
        goto out;
    if ((rc = kumo__rmtree(app)) < 0) {
        kumo__error_set(err, rc, "cannot remove the previous %s: %s", app, strerror(-rc));
        goto out;
    }
    kumo__bundle_info info = {.host = want_host};
    if ((rc = kumo__bundle_write(p, NULL, "http", 0, app, &loader, &info, err)) < 0)
        goto out;
    if (!info.lean && want_host == NULL)
        fprintf(stderr, "kumo build: the app is packaged with kumo-host, not the lean kumo-http: %s\n", info.why);

    host = json_pack("{s:s, s:{s:{s:s, s:s, s:[]}, s:b}, s:{s:{s:s}}}", "version", "2.0", "customHandler",
                     "description", "defaultExecutablePath", "bootstrap", "workingDirectory", "", "arguments",
                     "enableForwardingHttpRequest", 1, "extensions", "http", "routePrefix", "");
    if (host == NULL) {
        rc = oom(err);
        goto out;
    }
    /* the events' functions first: they keep their names (kumo-host knows them) */
    if ((rc = kumo__azure_event_functions(p, app, taken, host, err)) < 0)
        goto out;
    snprintf(path, sizeof(path), "%s/host.json", app);
    if ((rc = write_json_file(path, host, err)) < 0)
        goto out;

    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        char *name = function_name(op, taken), *route = azure_route(spec->base_path, op->path);
        char method[16];
        size_t k = 0;
        for (; op->method[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)tolower((unsigned char)op->method[k]);
        method[k] = '\0';
        json_t *fn = NULL;
        if (name && route)
            fn = json_pack("{s:[{s:s, s:s, s:s, s:s, s:[s], s:s}, {s:s, s:s, s:s}]}", "bindings", "type", "httpTrigger",
                           "direction", "in", "name", "req", "authLevel", "anonymous", "methods", method, "route",
                           route, "type", "http", "direction", "out", "name", "res");
        if (fn == NULL) {
            free(name);
            free(route);
            rc = oom(err);
            goto out;
        }
        snprintf(path, sizeof(path), "%s/%s/function.json", app, name);
        rc = write_json_file(path, fn, err);
        json_decref(fn);
        free(name);
        free(route);
        if (rc < 0)
            goto out;
    }
    if ((rc = zip_tree(app, zip, err)) < 0 || (rc = file_digest(zip, &digest, &size, err)) < 0)
        goto out;
    rc = push_artifact(out, NULL, zip, digest, size, err);
    digest = NULL;
out:
    json_decref(taken);
    json_decref(host);
    if (spec)
        kumo__spec_free(spec);
    free(loader);
    free(digest);
    if (rc < 0)
        kumo__error_wrap(err, "building the azure function app");
    return rc;
}

/* ---- the entry point ------------------------------------------------------------ */

int kumo__build_target(const char *dir, const char *target, kumo__artifacts *out, kumo__error *err)
{
    return kumo__build_target_host(dir, target, NULL, out, err);
}

int kumo__build_target_host(const char *dir, const char *target, const char *host, kumo__artifacts *out,
                            kumo__error *err)
{
    kumo__project *p = NULL;
    char outdir[PATH_MAX];
    int rc = 0, built = 0, image = 0;
    out->items = NULL;
    out->n = 0;
    for (size_t i = 0; i < sizeof(image_targets) / sizeof(image_targets[0]); i++)
        if (strcmp(target, image_targets[i]) == 0)
            image = 1;
    if (!image && strcmp(target, "aws") != 0 && strcmp(target, "azure") != 0) {
        kumo__error_set(err, -EINVAL, "unknown target '%s'; choose one of %s", target, KUMO__TARGETS);
        return -EINVAL;
    }
    if ((rc = kumo__project_load(dir, &p, err)) < 0)
        goto out;
    if ((rc = kumo__target_check_events(p, target, err)) < 0)
        goto out;
    if (p->monitors.nops > 0 || p->monitors.nwebhooks > 0)
        fprintf(stderr,
                "kumo: warning: %s/kumo.yaml: monitors: and alerts: are evaluated by kumo up; deployed on %s they are "
                "not: `kumo monitors rules %s` writes the same monitors as Prometheus alerting rules for the "
                "Prometheus that scrapes it (docs/monitors.md)\n",
                p->dir, target, p->dir);
    if ((rc = kumo__build_units(p, &built, err)) < 0)
        goto out;
    snprintf(outdir, sizeof(outdir), "%s/.kumo/build/%s", p->dir, target);
    if ((rc = kumo__mkdirs(outdir, 0755)) < 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", outdir, strerror(-rc));
        goto out;
    }
    if (strcmp(target, "azure") == 0) {
        rc = build_azure(p, host, outdir, out, err);
        goto out;
    }
    for (size_t i = 0; i < p->nunits && rc == 0; i++)
        rc = image ? build_image_unit(p, &p->units[i], host, outdir, out, err)
                   : build_aws_unit(p, &p->units[i], outdir, host, out, err);
out:
    if (rc < 0)
        kumo__artifacts_free(out);
    if (p)
        kumo__project_free(p);
    return rc;
}
