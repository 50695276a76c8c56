/*
 * bundle.c: gathers one function package into a directory (bundle.h). The
 * steps, in order: kumo-host into bin/; the project file, the OpenAPI
 * document with every file its $refs reach into app/ at their paths
 * relative to the project (not the C sources: kumo-host loads the project
 * with kumo__project_load_prebuilt); the unit .so(s) where
 * `kumo up` builds them; then the shared libraries. For those we ask the
 * system's loader (ldd) what kumo-host and each unit resolve to, and copy
 * each file (symlinks followed) under its soname, with the loader itself,
 * into lib/. bootstrap starts kumo-host through that loader with
 * --library-path lib, which is how AWS's C++ runtime packages run on
 * Amazon Linux whatever glibc the build machine had.
 *
 * The tree walk and the small file helpers the archive writers share live
 * here as well.
 */
#include "deploy/bundle.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host.h"
#include "project/services.h"
#include "runtime/runtime.h"

extern char **environ;

#define LDD_OUTPUT_MAX (1u << 20)

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* ---- small file helpers ---------------------------------------------------- */

int kumo__copy_file(const char *src, const char *dst, kumo__error *err)
{
    int rc = 0, in = -1, out = -1;
    char *buf = NULL, dir[PATH_MAX];
    struct stat st;
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "cannot read %s: %s", src, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        kumo__error_set(err, rc, "%s is not a regular file", src);
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s", dst);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if ((rc = kumo__mkdirs(dir, 0755)) < 0) {
            kumo__error_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
            goto out;
        }
    }
    mode_t mode = (st.st_mode & 0111) ? 0755 : 0644;
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0 || fchmod(out, mode) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "cannot create %s: %s", dst, strerror(-rc));
        goto out;
    }
    if ((buf = malloc(1 << 16)) == NULL) {
        rc = oom(err);
        goto out;
    }
    for (;;) {
        ssize_t r = read(in, buf, 1 << 16);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            kumo__error_set(err, rc, "reading %s: %s", src, strerror(-rc));
            goto out;
        }
        if (r == 0)
            break;
        for (ssize_t done = 0; done < r;) {
            ssize_t w = write(out, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                kumo__error_set(err, rc, "writing %s: %s", dst, strerror(-rc));
                goto out;
            }
            done += w;
        }
    }
out:
    free(buf);
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) < 0 && rc == 0) {
        rc = -errno;
        kumo__error_set(err, rc, "writing %s: %s", dst, strerror(-rc));
    }
    return rc;
}

/* ---- the sorted walk ------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tree_push(kumo__tree *t, size_t *cap, const char *path, int is_dir, unsigned mode, uint64_t size)
{
    if (t->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        kumo__tree_entry *ni = realloc(t->items, nc * sizeof(*ni));
        if (ni == NULL)
            return -ENOMEM;
        t->items = ni;
        *cap = nc;
    }
    char *p = strdup(path);
    if (p == NULL)
        return -ENOMEM;
    t->items[t->n++] = (kumo__tree_entry){.path = p, .is_dir = is_dir, .mode = mode, .size = size};
    return 0;
}

/* Lists root/rel (rel "" for root itself) into t, recursively. */
static int tree_walk(const char *root, const char *rel, kumo__tree *t, size_t *cap, kumo__error *err)
{
    int rc = 0;
    char dirpath[PATH_MAX];
    char **names = NULL;
    size_t n = 0, ncap = 0;
    snprintf(dirpath, sizeof(dirpath), "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (d == NULL) {
        rc = -errno;
        kumo__error_set(err, rc, "cannot list %s: %s", dirpath, strerror(-rc));
        return rc;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == ncap) {
            size_t nc = ncap ? 2 * ncap : 16;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (nn == NULL) {
                rc = oom(err);
                goto out;
            }
            names = nn;
            ncap = nc;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = oom(err);
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char sub[PATH_MAX], full[PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]) >= (int)sizeof(sub) ||
            snprintf(full, sizeof(full), "%s/%s", root, sub) >= (int)sizeof(full)) {
            rc = -ENAMETOOLONG;
            kumo__error_set(err, rc, "%s/%s: path too long", dirpath, names[i]);
            goto out;
        }
        struct stat st;
        if (lstat(full, &st) < 0) {
            rc = -errno;
            kumo__error_set(err, rc, "cannot stat %s: %s", full, strerror(-rc));
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            if ((rc = tree_push(t, cap, sub, 1, 0755, 0)) < 0) {
                oom(err);
                goto out;
            }
            if ((rc = tree_walk(root, sub, t, cap, err)) < 0)
                goto out;
        } else if (S_ISREG(st.st_mode)) {
            if ((rc = tree_push(t, cap, sub, 0, (st.st_mode & 0111) ? 0755 : 0644, (uint64_t)st.st_size)) < 0) {
                oom(err);
                goto out;
            }
        } else {
            rc = -EINVAL;
            kumo__error_set(err, rc, "%s is neither a file nor a directory; a package holds only those", full);
            goto out;
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int kumo__tree_list(const char *root, kumo__tree *out, kumo__error *err)
{
    size_t cap = 0;
    out->items = NULL;
    out->n = 0;
    int rc = tree_walk(root, "", out, &cap, err);
    if (rc < 0)
        kumo__tree_free(out);
    return rc;
}

void kumo__tree_free(kumo__tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->items[i].path);
    free(t->items);
    t->items = NULL;
    t->n = 0;
}

/* ---- the project's files ------------------------------------------------------ */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_has(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

/* Appends s (taken: freed on failure). */
static int strlist_take(strlist *l, char *s)
{
    if (s == NULL)
        return -ENOMEM;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        char **nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL) {
            free(s);
            return -ENOMEM;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return 0;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* A file the package needs, by real path; it must lie in the project.
 * `doc` and `node`, when given, position the message (a $ref). 1 when it
 * was new, 0 when listed already. */
static int add_project_file_at(const char *root, strlist *files, const char *path, const kumo__doc *doc,
                               const json_t *node, kumo__error *err)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        int e = errno;
        kumo__error_set(err, -e, "%s: %s", path, strerror(e));
        return -e;
    }
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
        if (doc)
            kumo__doc_error(err, doc, node,
                            "%s is outside the project (%s); a package carries only the project's own files: "
                            "move it into the project",
                            real, root);
        else
            kumo__error_set(err, -EINVAL,
                            "%s is outside the project (%s); a package carries only the project's own files: "
                            "move it into the project",
                            real, root);
        return -EINVAL;
    }
    if (strlist_has(files, real))
        return 0;
    return strlist_take(files, strdup(real)) < 0 ? oom(err) : 1;
}

static int add_project_file(const char *root, strlist *files, const char *path, kumo__error *err)
{
    return add_project_file_at(root, files, path, NULL, NULL, err);
}

static int collect_refs(const char *root, strlist *files, const char *path, kumo__error *err);

/* Every "$ref" naming another file, anywhere under `node` of doc. */
static int walk_refs(const char *root, strlist *files, const kumo__doc *doc, const json_t *node, kumo__error *err)
{
    int rc = 0;
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            if ((rc = walk_refs(root, files, doc, v, err)) < 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(node))
        return 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)node, key, v)
    {
        if (strcmp(key, "$ref") == 0 && json_is_string(v)) {
            const char *ref = json_string_value(v);
            size_t flen = strcspn(ref, "#");
            if (flen == 0 || strstr(ref, "://") != NULL || strncmp(ref, "urn:", 4) == 0)
                continue;
            char dir[PATH_MAX], target[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s", kumo__doc_path(doc));
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                snprintf(dir, sizeof(dir), ".");
            if (ref[0] == '/')
                snprintf(target, sizeof(target), "%.*s", (int)flen, ref);
            else
                snprintf(target, sizeof(target), "%s/%.*s", dir, (int)flen, ref);
            if (access(target, R_OK) < 0) {
                kumo__doc_error(err, doc, v, "$ref '%s' names %s, which cannot be read; fix the reference", ref,
                                target);
                return -ENOENT;
            }
            if ((rc = add_project_file_at(root, files, target, doc, v, err)) < 0)
                return rc;
            if (rc == 1 && (rc = collect_refs(root, files, target, err)) < 0)
                return rc;
        } else if ((rc = walk_refs(root, files, doc, v, err)) < 0) {
            return rc;
        }
    }
    return 0;
}

/* The file at `path` (already listed) and every file its $refs reach. */
static int collect_refs(const char *root, strlist *files, const char *path, kumo__error *err)
{
    kumo__doc *doc;
    int rc = kumo__doc_load(path, &doc, err);
    if (rc < 0)
        return rc;
    rc = walk_refs(root, files, doc, kumo__doc_root(doc), err);
    kumo__doc_free(doc);
    return rc;
}

/* ---- shared libraries ------------------------------------------------------------ */

/* Runs argv with stdout captured into *out (NUL-terminated, malloc'd);
 * returns the exit status, or -errno. */
static int run_capture(char *const argv[], char **out, kumo__error *err)
{
    int rc = 0, fds[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    int fa_inited = 0;
    char *buf = NULL;
    size_t len = 0;
    pid_t pid = -1;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "pipe: %s", strerror(-rc));
        goto out;
    }
    if ((buf = malloc(LDD_OUTPUT_MAX + 1)) == NULL) {
        rc = oom(err);
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    fa_inited = 1;
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if ((rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ)) != 0) {
        kumo__error_set(err, -rc, "cannot run %s: %s%s", argv[0], strerror(rc),
                        strcmp(argv[0], "ldd") == 0 ? "; it comes with glibc (libc-bin)" : "");
        rc = -rc;
        pid = -1;
        goto out;
    }
    close(fds[1]);
    fds[1] = -1;
    for (;;) {
        ssize_t r = read(fds[0], buf + len, LDD_OUTPUT_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == LDD_OUTPUT_MAX) {
            rc = -E2BIG;
            kumo__error_set(err, rc, "%s %s: more than %u bytes of output", argv[0], argv[1], LDD_OUTPUT_MAX);
            break;
        }
    }
    buf[len] = '\0';
out:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    if (fa_inited)
        posix_spawn_file_actions_destroy(&fa);
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (rc == 0)
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (rc < 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    return rc;
}

typedef struct libset {
    strlist names; /* soname, as stored under lib/ */
    strlist paths; /* where it resolved on this machine */
    char *loader;  /* the loader's path */
} libset;

static void libset_free(libset *l)
{
    strlist_free(&l->names);
    strlist_free(&l->paths);
    free(l->loader);
}

static int libset_add(libset *l, const char *name, size_t nlen, const char *path, size_t plen)
{
    char *n = strndup(name, nlen);
    if (n == NULL)
        return -ENOMEM;
    if (strlist_has(&l->names, n)) {
        free(n);
        return 0;
    }
    if (strlist_take(&l->names, n) < 0)
        return -ENOMEM;
    if (strlist_take(&l->paths, strndup(path, plen)) < 0) {
        free(l->names.v[--l->names.n]);
        return -ENOMEM;
    }
    return 0;
}

/* What the loader resolves `elf`'s libraries to, added to *l. Lines look
 * like "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)", the
 * loader "\t/lib64/ld-linux-x86-64.so.2 (0x...)", and the vDSO has no
 * file. */
static int ldd_into(const char *elf, libset *l, kumo__error *err)
{
    char *out = NULL;
    char *argv[] = {"ldd", (char *)elf, NULL};
    int rc = run_capture(argv, &out, err);
    if (rc < 0)
        return rc;
    if (rc != 0) {
        kumo__error_set(err, -ENOEXEC, "ldd %s failed (exit %d): %s", elf, rc, out);
        rc = -ENOEXEC;
        goto out;
    }
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line += strspn(line, " \t");
        if (*line == '\0' || strstr(line, "statically linked"))
            continue;
        char *arrow = strstr(line, " => ");
        if (arrow) {
            const char *path = arrow + 4;
            if (strncmp(path, "not found", 9) == 0) {
                kumo__error_set(err, -ENOENT,
                                "%s needs %.*s, which the loader does not find on this machine; install it "
                                "(or set LD_LIBRARY_PATH) and build again",
                                elf, (int)(arrow - line), line);
                rc = -ENOENT;
                goto out;
            }
            size_t plen = strcspn(path, " (");
            if (plen == 0)
                continue; /* "linux-vdso.so.1 =>  (0x...)": no file */
            if ((rc = libset_add(l, line, (size_t)(arrow - line), path, plen)) < 0) {
                oom(err);
                goto out;
            }
        } else if (line[0] == '/') {
            size_t plen = strcspn(line, " (");
            const char *base = memrchr(line, '/', plen) + 1;
            if (strncmp(base, "ld-", 3) == 0) {
                if (l->loader == NULL && (l->loader = strndup(line, plen)) == NULL) {
                    rc = oom(err);
                    goto out;
                }
            } else if ((rc = libset_add(l, base, plen - (size_t)(base - line), line, plen)) < 0) {
                oom(err);
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(out);
    return rc;
}

/* A library kumo-host dlopens (`soname`, which defines `symbol`), as this
 * machine has it, added to *l with what it needs. */
static int add_dlopened(libset *l, const char *soname, const char *symbol, kumo__error *err)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    void *sym = lib ? dlsym(lib, symbol) : NULL;
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) {
        kumo__error_set(err, -ENOENT, "the package needs %s, which cannot be loaded here: %s", soname, dlerror());
        if (lib)
            dlclose(lib);
        return -ENOENT;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", info.dli_fname);
    dlclose(lib);
    if (libset_add(l, soname, strlen(soname), path, strlen(path)) < 0)
        return oom(err);
    return ldd_into(path, l, err);
}

/* Whether the unit `so` imports a function whose name starts with one of
 * prefixes[0..n) (nm -D --undefined-only): 1 or 0, or -1 when nm (binutils)
 * cannot tell. */
static int unit_imports(const char *so, const char *const *prefixes, size_t n)
{
    char *out = NULL;
    char *argv[] = {"nm", "-D", "--undefined-only", (char *)so, NULL};
    kumo__error ignored = {0};
    if (run_capture(argv, &out, &ignored) != 0) {
        free(out);
        return -1;
    }
    int found = 0;
    /* lines are "                 U kumo_kv_get": the name is the last word */
    for (char *l = out, *next; l && *l && !found; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        const char *sym = strrchr(l, ' ');
        sym = sym ? sym + 1 : l;
        for (size_t k = 0; k < n && !found; k++)
            found = strncmp(sym, prefixes[k], strlen(prefixes[k])) == 0;
    }
    free(out);
    return found;
}

/* Whether the package needs libcurl (loaded on first use: base/curl_lazy.c).
 * kumo-host's stores, key sets and spans go through kumo's own HTTP client
 * (host/own_http.c, sdk/stores/cloud.h), so only two things still need
 * it: a unit's outbound calls (nm: kumo_http* among its undefined symbols;
 * no nm, no answer: yes) and a token scheme whose key set trusts a CA file
 * of its own (ca_file). A package run behind a proxy variable goes through
 * libcurl too, which it then does not carry: KUMO_CURL=1 (kumo__bundle_write)
 * puts it in. */
static int needs_curl(const kumo__project *p, const strlist *sos)
{
    const char *name;
    json_t *sec, *root = kumo__doc_root(p->doc);
    json_object_foreach(json_object_get(root, "security"), name, sec)
    {
        if (json_object_get(sec, "ca_file"))
            return 1;
    }
    static const char *const reach[] = {"kumo_http"};
    for (size_t i = 0; i < sos->n; i++)
        if (unit_imports(sos->v[i], reach, 1) != 0)
            return 1;
    return 0;
}

/* Whether url is https:// to an IPv4 or [IPv6] address. */
static int https_to_address(const char *url)
{
    if (url == NULL || strncasecmp(url, "https://", 8) != 0)
        return 0;
    const char *h = url + 8;
    if (*h == '[')
        return 1;
    size_t n = strcspn(h, ":/?#");
    unsigned char buf[sizeof(struct in_addr)];
    char host[64];
    if (n == 0 || n >= sizeof(host))
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    return inet_pton(AF_INET, host, buf) == 1;
}

/* The store URL schemes a lean host's drivers serve: kumo-lambda's, AWS's
 * alone; kumo-http's, every cloud's and the embedded default's (the SDK
 * each links: CMakeLists.txt). */
static int lean_scheme(const char *u, int http)
{
    static const char *const aws[] = {"dynamodb:", "s3:", "sqs:", "sns:"};
    static const char *const others[] = {
        "firestore:", "gs:", "pubsub:", "aztable:", "azblob:", "azqueue:", "azservicebus:", "sqlite:", "file:"};
    for (size_t k = 0; k < sizeof(aws) / sizeof(aws[0]); k++)
        if (strncmp(u, aws[k], strlen(aws[k])) == 0)
            return 1;
    for (size_t k = 0; http && k < sizeof(others) / sizeof(others[0]); k++)
        if (strncmp(u, others[k], strlen(others[k])) == 0)
            return 1;
    return 0;
}

/* Whether the lean host serves this package as kumo-host would: under
 * "lambda" kumo-lambda (the lambda adapter alone, the AWS drivers over the
 * built-in HTTPS client, libcrypto loaded only for an RSA key over 4096 bits),
 * under "http" kumo-http (the http adapter over kumo's own HTTP/1.1
 * server, every cloud's drivers over the same client; neither h2o nor
 * OpenSSL: CMakeLists.txt). It does unless the package needs what only
 * kumo-host has:
 *   - libcurl's part: a security scheme with its own CA file, an outbound
 *     service at https:// and an IP address (kumo's client checks names
 *     only);
 *   - a store on a backend the lean host has no driver for: an
 *     environment's URL on Redis or PostgreSQL, or (kumo-lambda) off AWS;
 *   - under "http", kumo.yaml's http.tls (OpenSSL's).
 * Key sets, spans and the units' outbound calls (kumo_http_*) go through
 * kumo's own HTTP client there (host/own_http.c, sdk/http.c). When it
 * does not, `why` says what, for the build's output. */
static int lean_fits(const kumo__project *p, int http, char *why, size_t cap)
{
    const char *name, *bin = http ? "kumo-http" : "kumo-lambda";
    const char *path = http ? kumo__http_host_path() : kumo__lambda_host_path();
    json_t *sec, *root = kumo__doc_root(p->doc);
    if (access(path, X_OK) != 0) {
        snprintf(why, cap, "%s is not at %s (build it, or set %s)", bin, path,
                 http ? "KUMO_HTTP_HOST" : "KUMO_LAMBDA_HOST");
        return 0;
    }
    json_object_foreach(json_object_get(root, "security"), name, sec)
    {
        /* a token scheme's keys fetched (jwks_url, discovery) come through
         * kumo's own HTTPS client (host/own_http.c), which trusts the
         * platform's CAs only: a CA file of the scheme's is libcurl's */
        if (json_object_get(sec, "ca_file")) {
            snprintf(why, cap, "security scheme '%s' trusts its own CA file (ca_file), which libcurl reads", name);
            return 0;
        }
    }
    if (http && p->http.edge.tls.cert) {
        snprintf(why, cap, "kumo.yaml's http.tls terminates TLS with OpenSSL, which kumo-http has not");
        return 0;
    }
    for (size_t i = 0; i < p->nenvironments; i++)
        for (size_t j = 0; j < p->environments[i].nstores; j++) {
            const char *u = p->environments[i].stores[j].url;
            if (u != NULL && !lean_scheme(u, http)) {
                snprintf(why, cap, "environment '%s' keeps store '%s' off %s (%.*s)", p->environments[i].name,
                         p->environments[i].stores[j].store, http ? "the clouds" : "AWS", (int)strcspn(u, ":"), u);
                return 0;
            }
        }
    for (size_t i = 0; i < p->nservices; i++)
        if (https_to_address(p->services[i].url)) {
            snprintf(why, cap, "service '%s' is at https:// and an IP address (%.64s), a certificate libcurl checks",
                     p->services[i].name, p->services[i].url);
            return 0;
        }
    for (size_t i = 0; i < p->nenvironments; i++)
        for (size_t j = 0; j < p->environments[i].nservices; j++)
            if (https_to_address(p->environments[i].services[j].url)) {
                snprintf(why, cap,
                         "environment '%s' puts service '%s' at https:// and an IP address (%.64s), a certificate "
                         "libcurl checks",
                         p->environments[i].name, p->environments[i].services[j].service,
                         p->environments[i].services[j].url);
                return 0;
            }
    return 1;
}

/* Whether a kv, queue or topic store of p may be kept in SQLite: an
 * environment gives it a sqlite: URL, or some environment (or the lack of
 * one) leaves it to its embedded default. Deploy to gcp and azure
 * provisions such a store in the cloud, but the same image run elsewhere
 * (docker run, a cluster) keeps it embedded. */
static int may_keep_embedded(const kumo__project *p)
{
    for (size_t k = 0; k < p->nstores; k++) {
        if (p->stores[k].kind == KUMO__STORE_BLOB)
            continue; /* files, no library */
        int everywhere = p->nenvironments > 0;
        for (size_t i = 0; i < p->nenvironments; i++) {
            int here = 0;
            for (size_t j = 0; j < p->environments[i].nstores; j++) {
                const kumo__store_url *su = &p->environments[i].stores[j];
                if (su->url == NULL || strcmp(su->store, p->stores[k].name) != 0)
                    continue;
                if (strncmp(su->url, "sqlite:", 7) == 0)
                    return 1;
                here = 1;
            }
            everywhere &= here;
        }
        if (!everywhere)
            return 1;
    }
    return 0;
}

/* Whether the project's documents (kumo.yaml, the API and every file its
 * $refs reach, the services' documents) may hold a regular expression: a
 * `pattern`, `patternProperties` or the `regex` format. kumo-lambda then
 * loads PCRE2 (openapi/pcre2_lazy.h), which the package carries. Read as
 * text, so a word in a description counts too: never less than needed. */
static int may_have_regex(const strlist *files)
{
    for (size_t i = 0; i < files->n; i++) {
        FILE *f = fopen(files->v[i], "rb");
        long size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
        char *text = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
        int found = text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size ||
                    memmem(text, (size_t)size, "pattern", 7) || memmem(text, (size_t)size, "regex", 5);
        free(text);
        if (f)
            fclose(f);
        if (found)
            return 1;
    }
    return 0;
}

/* Whether an environment of p keeps a store on PostgreSQL. */
static int names_postgres(const kumo__project *p)
{
    for (size_t i = 0; i < p->nenvironments; i++)
        for (size_t j = 0; j < p->environments[i].nstores; j++) {
            const char *u = p->environments[i].stores[j].url;
            if (u && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0))
                return 1;
        }
    return 0;
}

/* The libraries of glibc itself: a platform with glibc has them (and its
 * loader), matched to each other, so a bundle that uses the platform's
 * glibc carries none of them. */
static int glibc_own(const char *soname)
{
    static const char *const own[] = {"libc.so.6",    "libm.so.6",      "libpthread.so.0", "libdl.so.2",  "librt.so.1",
                                      "libutil.so.1", "libresolv.so.2", "libanl.so.1",     "libmvec.so.1"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(soname, own[i]) == 0)
            return 1;
    return 0;
}

/* The highest glibc version `elf` asks for, as its minor number (2.34 ->
 * 34; 0: none), from objdump -p's version references; INT_MAX when it asks
 * for GLIBC_PRIVATE (only the glibc it was built with will do) or when it
 * cannot be told (no objdump: binutils), so that the caller bundles glibc. */
static int glibc_need(const char *elf)
{
    char *out = NULL;
    char *argv[] = {"objdump", "-p", (char *)elf, NULL};
    kumo__error ignored = {0};
    int need = 0;
    if (run_capture(argv, &out, &ignored) != 0) {
        free(out);
        return INT_MAX;
    }
    for (const char *p = out; (p = strstr(p, "GLIBC_")) != NULL; p += 6) {
        if (strncmp(p + 6, "PRIVATE", 7) == 0) {
            need = INT_MAX;
            break;
        }
        if (strncmp(p + 6, "2.", 2) == 0) {
            int minor = atoi(p + 8);
            if (minor > need)
                need = minor;
        }
    }
    free(out);
    return need;
}

/* Drops debug information from a copied executable or unit (objcopy
 * --strip-debug, in place): kumo-host's is three quarters of its size.
 * The symbol table stays, so that backtraces still name functions. When
 * objcopy (binutils) is missing or fails, the file is packaged as it is. */
static void strip_debug(const char *path)
{
    char *out = NULL;
    char *argv[] = {"objcopy", "--strip-debug", (char *)path, NULL};
    kumo__error ignored = {0};
    run_capture(argv, &out, &ignored);
    free(out);
}

/* ---- the bundle ------------------------------------------------------------------ */

/* Appends s to buf (cap bytes) in single quotes, for sh. */
static void sh_quote(char *buf, size_t cap, const char *s)
{
    size_t len = strlen(buf);
    if (len + 1 < cap)
        buf[len++] = '\'';
    for (; *s && len + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(buf + len, "'\\''", 4);
            len += 4;
        } else {
            buf[len++] = *s;
        }
    }
    if (len + 1 < cap)
        buf[len++] = '\'';
    buf[len] = '\0';
}

static int write_bootstrap(const char *dest, const char *loader, const char *bin, const char *adapter, const char *unit,
                           kumo__error *err)
{
    char path[PATH_MAX], text[2048], args[512] = "";
    sh_quote(args, sizeof(args), adapter);
    strcat(args, " \"$D/app\"");
    if (unit) {
        strcat(args, " ");
        sh_quote(args, sizeof(args), unit);
    }
    int n;
    if (loader)
        n = snprintf(text, sizeof(text),
                     "#!/bin/sh\n"
                     "# kumo function package: %s's %s adapter over app/, started through the\n"
                     "# bundled loader so that only the libraries in lib/ are used, whatever this\n"
                     "# machine's are.\n"
                     "D=$(cd \"$(dirname \"$0\")\" && pwd)\n"
                     "exec \"$D/lib/%s\" --library-path \"$D/lib\" \"$D/bin/%s\" %s\n",
                     bin, adapter, loader, bin, args);
    else /* no subshell: each fork is time before the first answer */
        n = snprintf(text, sizeof(text),
                     "#!/bin/sh\n"
                     "# kumo function package: %s's %s adapter over app/, on the platform's\n"
                     "# glibc, with every other library from lib/.\n"
                     "case $0 in */*) D=${0%%/*} ;; *) D=. ;; esac\n"
                     "LD_LIBRARY_PATH=\"$D/lib\" exec \"$D/bin/%s\" %s\n",
                     bin, adapter, bin, args);
    if (n >= (int)sizeof(text)) {
        kumo__error_set(err, -ENAMETOOLONG, "bootstrap: unit name too long");
        return -ENAMETOOLONG;
    }
    snprintf(path, sizeof(path), "%s/bootstrap", dest);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fchmod(fileno(f), 0755) < 0) {
        int e = errno;
        if (f)
            fclose(f);
        kumo__error_set(err, -e, "cannot write %s: %s", path, strerror(e));
        return -e;
    }
    if (fclose(f) != 0) {
        int e = errno;
        kumo__error_set(err, -e, "cannot write %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

/* Copies root/<rel> to dest/app/<rel> for each real path in files. */
static int copy_app_files(const char *root, const strlist *files, const char *dest, kumo__error *err)
{
    size_t rl = strlen(root);
    for (size_t i = 0; i < files->n; i++) {
        char dst[PATH_MAX];
        if (snprintf(dst, sizeof(dst), "%s/app/%s", dest, files->v[i] + rl + 1) >= (int)sizeof(dst)) {
            kumo__error_set(err, -ENAMETOOLONG, "%s: path too long", files->v[i]);
            return -ENAMETOOLONG;
        }
        int rc = kumo__copy_file(files->v[i], dst, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Rewrites dest/app/<rel> of the first ndocs files (the documents) as
 * JSON, under the same names, so that kumo-lambda reads them with doc.c's
 * JSON reader and neither carries nor maps libyaml (openapi/yaml_lazy.h):
 * about a quarter of its start went to libyaml. The tree is the one the
 * YAML gave (YAML is a superset of JSON, and every $ref still names its
 * file); what a reader loses is the comments and the layout, and the
 * positions a message gives are the JSON text's. */
static int documents_as_json(const char *root, const strlist *files, size_t ndocs, const char *dest, kumo__error *err)
{
    size_t rl = strlen(root);
    for (size_t i = 0; i < ndocs && i < files->n; i++) {
        char dst[PATH_MAX];
        snprintf(dst, sizeof(dst), "%s/app/%s", dest, files->v[i] + rl + 1);
        kumo__doc *doc;
        int rc = kumo__doc_load(files->v[i], &doc, err);
        if (rc < 0)
            return rc;
        rc = json_dump_file(kumo__doc_root(doc), dst, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        kumo__doc_free(doc);
        if (rc != 0) {
            kumo__error_set(err, -EIO, "cannot write %s as JSON", dst);
            return -EIO;
        }
    }
    return 0;
}

int kumo__bundle_write(const kumo__project *p, const char *unit, const char *adapter, int platform_glibc,
                       const char *dest, char **loader_out, kumo__bundle_info *info, kumo__error *err)
{
    int rc = 0, made = 0;
    strlist files = {0}, sos = {0};
    libset libs = {0};
    char root[PATH_MAX], path[PATH_MAX];
    *loader_out = NULL;

    if (realpath(p->dir, root) == NULL) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: %s", p->dir, strerror(-rc));
        goto out;
    }
    const char *host = kumo__host_path();
    if (access(host, X_OK) < 0) {
        rc = -errno;
        kumo__error_set(err, rc,
                        "kumo-host is not at %s (%s); build it (cmake --build ... --target kumo-host) "
                        "or set KUMO_HOST",
                        host, strerror(-rc));
        goto out;
    }
    if (mkdir(dest, 0755) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "cannot create %s: %s", dest, strerror(-rc));
        goto out;
    }
    made = 1;

    /* app/: the project file, the API and its refs, the unit(s) */
    if ((rc = add_project_file(root, &files, kumo__doc_path(p->doc), err)) < 0 ||
        (rc = add_project_file(root, &files, p->api_path, err)) < 0)
        goto out;
    if ((rc = collect_refs(root, &files, p->api_path, err)) < 0) {
        kumo__error_wrap(err, "collecting the files of %s", p->api_path);
        goto out;
    }
    /* the services' documents (kumo-host loads the project, which names them) */
    for (size_t i = 0; i < p->nservices; i++) {
        if ((rc = add_project_file(root, &files, p->services[i].spec, err)) < 0)
            goto out;
        if ((rc = collect_refs(root, &files, p->services[i].spec, err)) < 0) {
            kumo__error_wrap(err, "collecting the files of %s", p->services[i].spec);
            goto out;
        }
    }
    size_t ndocs = files.n; /* the documents: kumo.yaml and the APIs' files */
    /* the credentials files of kumo.yaml's security: (kumo-host checks
     * Basic users against them; they hold hashes, never passwords). Keys'
     * ${file:} references are secrets: mounted where it runs, not packed */
    const char *name;
    json_t *sec;
    int basic_users = 0;
    json_object_foreach(json_object_get(kumo__doc_root(p->doc), "security"), name, sec)
    {
        json_t *f = json_object_get(sec, "file");
        if (!json_is_string(f))
            continue;
        basic_users = 1;
        char path[PATH_MAX];
        const char *fv = json_string_value(f);
        snprintf(path, sizeof(path), "%s%s%s", fv[0] == '/' ? "" : p->dir, fv[0] == '/' ? "" : "/", fv);
        if ((rc = add_project_file_at(root, &files, path, p->doc, f, err)) < 0)
            goto out;
    }
    for (size_t i = 0; i < p->nunits; i++) {
        const kumo__unit *u = &p->units[i];
        if (unit && strcmp(u->name, unit) != 0)
            continue;
        if ((rc = add_project_file(root, &sos, u->so_path, err)) < 0) {
            kumo__error_wrap(err, "unit '%s' is not built", u->name);
            goto out;
        }
    }
    if (sos.n == 0) {
        rc = -ENOENT;
        kumo__error_set(err, rc, "%s/kumo.yaml has no function unit '%s'", p->dir, unit ? unit : "");
        goto out;
    }
    if ((rc = copy_app_files(root, &files, dest, err)) < 0 || (rc = copy_app_files(root, &sos, dest, err)) < 0)
        goto out;

    for (size_t i = 0; i < sos.n; i++) {
        snprintf(path, sizeof(path), "%s/app/%s", dest, sos.v[i] + strlen(root) + 1);
        strip_debug(path);
    }

    /* KUMO_CURL=1: libcurl in the package (a host behind a proxy variable,
     * which only libcurl honours), so kumo-host, never kumo-lambda */
    const char *want_curl = getenv("KUMO_CURL");
    if (want_curl && *want_curl && strcmp(want_curl, "1") != 0 && strcmp(want_curl, "0") != 0) {
        rc = -EINVAL;
        kumo__error_set(err, rc, "KUMO_CURL=%s: expected 1 (put libcurl in the package) or 0", want_curl);
        goto out;
    }
    int force_curl = want_curl && strcmp(want_curl, "1") == 0;
    /* bin/: the lean host when it serves the package (lean_fits), kumo-lambda
     * under "lambda", kumo-http under "http"; else kumo-host */
    int http = strcmp(adapter, "http") == 0;
    const char *lean_bin = http ? "kumo-http" : "kumo-lambda";
    char why[256] = "";
    const char *want = info ? info->host : NULL;
    int lean = (want == NULL || strcmp(want, lean_bin) == 0) && lean_fits(p, http, why, sizeof(why));
    if (lean && force_curl) {
        lean = 0;
        snprintf(why, sizeof(why), "KUMO_CURL=1 asks for libcurl, which %s cannot use", lean_bin);
    }
    if (!lean && want && strcmp(want, "kumo-host") == 0)
        snprintf(why, sizeof(why), "--host kumo-host asks for it");
    if (!lean && want && strcmp(want, lean_bin) == 0) {
        rc = -EINVAL;
        kumo__error_set(err, rc, "--host %s: %s cannot serve this package: %s", lean_bin, lean_bin, why);
        goto out;
    }
    const char *bin = lean ? lean_bin : "kumo-host";
    if (lean)
        host = http ? kumo__http_host_path() : kumo__lambda_host_path();
    if (info) {
        info->lean = lean;
        snprintf(info->bin, sizeof(info->bin), "%s", bin);
        snprintf(info->why, sizeof(info->why), "%s", why);
    }
    snprintf(path, sizeof(path), "%s/bin/%s", dest, bin);
    if ((rc = kumo__copy_file(host, path, err)) < 0)
        goto out;
    strip_debug(path);
    if (lean && (rc = documents_as_json(root, &files, ndocs, dest, err)) < 0)
        goto out;

    /* lib/: what the loader resolves for the host and the unit(s) */
    if ((rc = ldd_into(host, &libs, err)) < 0)
        goto out;
    for (size_t i = 0; i < sos.n; i++)
        if ((rc = ldd_into(sos.v[i], &libs, err)) < 0)
            goto out;
    /* Basic users' passwords are checked with libcrypt, which kumo-host
     * loads only then (auth/basic.c): ldd does not list it */
    if (basic_users && (rc = add_dlopened(&libs, "libcrypt.so.1", "crypt_r", err)) < 0)
        goto out;
    /* libcurl and libpq are loaded on first use too (base/curl_lazy.c,
     * sdk/stores/pq_lazy.c). libcurl serves the cloud stores, outbound
     * calls, key sets and the trace exporter: it travels unless the package
     * can need none of them (needs_curl). libpq serves only postgres://
     * stores: it travels when an environment names one. */
    if (!lean && (force_curl || needs_curl(p, &sos)) &&
        (rc = add_dlopened(&libs, "libcurl.so.4", "curl_easy_init", err)) < 0)
        goto out;
    if (!lean && names_postgres(p) && (rc = add_dlopened(&libs, "libpq.so.5", "PQconnectdb", err)) < 0)
        goto out;
    /* the lean hosts load PCRE2 for a regular expression (openapi/pcre2_lazy.h).
     * No libcrypto: BearSSL and auth/ed25519.c verify every token signature
     * but an RSA key's over 4096 bits, for which a lean host loads the
     * system's libcrypto if it has one (auth/jwks.c). */
    if (lean && may_have_regex(&files) && (rc = add_dlopened(&libs, "libpcre2-8.so.0", "pcre2_compile_8", err)) < 0)
        goto out;
    /* kumo-http loads SQLite when an embedded store first opens
     * (sdk/stores/sqlite_lazy.h) */
    if (lean && http && may_keep_embedded(p) &&
        (rc = add_dlopened(&libs, "libsqlite3.so.0", "sqlite3_open_v2", err)) < 0)
        goto out;
    if (libs.loader == NULL) {
        rc = -ENOEXEC;
        kumo__error_set(err, rc, "ldd %s named no dynamic loader; kumo-host must be a dynamic executable", host);
        goto out;
    }
    /* On a platform whose glibc is at least what every file asks for, its
     * glibc serves (and its loader): they are most of a small package. */
    int use_platform = platform_glibc > 0 && glibc_need(host) <= platform_glibc;
    for (size_t i = 0; use_platform && i < sos.n; i++)
        use_platform = glibc_need(sos.v[i]) <= platform_glibc;
    for (size_t i = 0; use_platform && i < libs.names.n; i++)
        use_platform = glibc_own(libs.names.v[i]) || glibc_need(libs.paths.v[i]) <= platform_glibc;
    for (size_t i = 0; i < libs.names.n; i++) {
        if (use_platform && glibc_own(libs.names.v[i]))
            continue;
        snprintf(path, sizeof(path), "%s/lib/%s", dest, libs.names.v[i]);
        if ((rc = kumo__copy_file(libs.paths.v[i], path, err)) < 0)
            goto out;
    }
    const char *loader = NULL;
    if (!use_platform) {
        loader = strrchr(libs.loader, '/') + 1;
        snprintf(path, sizeof(path), "%s/lib/%s", dest, loader);
        if ((rc = kumo__copy_file(libs.loader, path, err)) < 0)
            goto out;
    }
    if (lean && !http && loader == NULL && unit) {
        /* kumo-lambda on the platform's glibc is the bootstrap itself: no
         * shell started first (a third of its start), its libraries found
         * through its RUNPATH ($ORIGIN/lib), its unit named in a file */
        char boot[PATH_MAX], dir[PATH_MAX];
        snprintf(boot, sizeof(boot), "%s/bootstrap", dest);
        snprintf(dir, sizeof(dir), "%s/bin", dest);
        snprintf(path, sizeof(path), "%s/bin/%s", dest, bin);
        if (rename(path, boot) != 0 || rmdir(dir) != 0) {
            rc = -errno;
            kumo__error_set(err, rc, "cannot move %s to %s: %s", path, boot, strerror(-rc));
            goto out;
        }
        snprintf(path, sizeof(path), "%s/app/" KUMO__LAMBDA_UNIT_FILE, dest);
        FILE *f = fopen(path, "w");
        int bad = f == NULL || fputs(unit, f) < 0;
        if ((f && fclose(f) != 0) || bad) {
            rc = -EIO;
            kumo__error_set(err, rc, "cannot write %s", path);
            goto out;
        }
    } else if ((rc = write_bootstrap(dest, loader, bin, adapter, unit, err)) < 0) {
        goto out;
    }
    if (loader && (*loader_out = strdup(loader)) == NULL)
        rc = oom(err);
out:
    if (rc < 0 && made)
        kumo__rmtree(dest);
    strlist_free(&files);
    strlist_free(&sos);
    libset_free(&libs);
    return rc;
}
