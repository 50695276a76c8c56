/*
 * watch.c: what a generation was built from, and `kumo dev`'s watcher.
 *
 * A generation's inputs are the files it was built from: kumo.yaml, the
 * OpenAPI document and every file its $refs loaded, the files kumo.yaml
 * names as ${file:PATH} (secrets), the security policy's credentials, JWKS
 * and CA files, the services' documents and mock
 * data, kumo.h, each unit's sources and the headers its last build
 * included (NAME.d, build.c). Their fingerprint (a hash of their contents,
 * and of each unit's .so identity) lets a reload that would change nothing
 * do nothing
 * (kumo__gw_reload): no generation, no cold starts. A fingerprint taken
 * while an input was being written (its mtime after the reload began) is
 * 0, which never matches: the next reload builds.
 *
 * The watcher (kumo dev) is one thread on an inotify descriptor watching
 * the project's folders (not .kumo/ nor hidden ones) and the folders of
 * inputs outside it. A change to an input, or to a C source, header or
 * YAML/JSON file in the project, starts a reload once nothing more has
 * changed for a while. The events watched say a file is complete (closed
 * after writing, renamed into place, deleted), so that while is short,
 * SETTLE_MS, enough for the other files of one "save all" or checkout to
 * join the same reload; a file created and not yet closed (an editor
 * writing a new file in several steps) holds it to DEBOUNCE_MS. It
 * records what changed in gw->dev and sends SIGHUP to the main thread, the
 * reload POST /reload also starts. The reload's fingerprint check makes a
 * change that is no input's a no-op.
 */
#include "gateway/gateway_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/policy.h"
#include "openapi/docset.h"

#define DEBOUNCE_MS 50           /* quiet wanted while a file created is not closed yet */
#define SETTLE_MS 8              /* quiet wanted once every changed file is complete */
#define OPEN_MAX 16              /* files created and not yet closed, remembered */
#define DEBOUNCE_MAX_MS 500      /* a reload starts at the latest this long after the first change */
#define WATCH_DIRS_MAX 1024      /* folders watched; more are said once and skipped */
#define INPUTS_MAX 4096          /* files a generation fingerprints */
#define YAML_SCAN_MAX (4u << 20) /* kumo.yaml's text read for ${file:} references */

/* ---- inputs and their fingerprint ---------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* FNV-1a's step over 8 bytes at a time, for the inputs' contents: each
 * step, h -> (h ^ word) * prime, is a bijection of h, so two texts that
 * differ in one word always hash apart, as byte by byte; one multiply per
 * 8 bytes instead of per byte (a 2 MB document: about 1 ms instead of 6
 * on every start and reload; issue 19). Only this process compares it. */
static uint64_t fnv_words(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h ^= w;
        h *= 1099511628211ull;
    }
    return fnv(h, b + i, n - i);
}

static int add_input(generation *g, const char *path)
{
    if (path == NULL || g->ninputs >= INPUTS_MAX)
        return 0;
    for (size_t i = 0; i < g->ninputs; i++)
        if (strcmp(g->inputs[i], path) == 0)
            return 0;
    if ((g->ninputs & (g->ninputs + 1)) == 0 || g->inputs == NULL) {
        char **grown = realloc(g->inputs, (g->ninputs * 2 + 2) * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        g->inputs = grown;
    }
    if ((g->inputs[g->ninputs] = strdup(path)) == NULL)
        return -ENOMEM;
    g->ninputs++;
    return 0;
}

/* The hash of the inputs' contents and the units' .so identity; 0 when an
 * input's mtime is at or after fresh_after_ns. The reload's start is read
 * from CLOCK_REALTIME_COARSE, the clock the kernel stamps files with (a
 * fine-grained stamp is never below it): a file written after the start
 * has an mtime at or after it, one written in the same tick (4 ms here)
 * before it counts as fresh too, which costs a build, never a miss. */
static uint64_t fingerprint(const generation *g, int64_t fresh_after_ns)
{
    uint64_t h = 14695981039346656037ull;
    char buf[16384];
    for (size_t i = 0; i < g->ninputs; i++) {
        h = fnv(h, g->inputs[i], strlen(g->inputs[i]) + 1);
        int fd = open(g->inputs[i], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            h = fnv(h, "\1missing", 8);
            if (fd >= 0)
                close(fd);
            continue;
        }
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (fresh_after_ns > 0 && mtime >= fresh_after_ns) {
            close(fd);
            return 0;
        }
        /* whole buffers until the end, so that the words fall the same
         * way whatever pieces read() returns */
        size_t have = 0;
        for (;;) {
            ssize_t n = read(fd, buf + have, sizeof(buf) - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0)
                have += (size_t)n;
            if (n <= 0 || have == sizeof(buf)) {
                h = fnv_words(h, buf, have);
                have = 0;
            }
            if (n <= 0)
                break;
        }
        close(fd);
    }
    for (size_t u = 0; g->project && u < g->project->nunits; u++) {
        struct stat st;
        uint64_t id[4] = {0, 0, 0, 0};
        if (stat(g->project->units[u].so_path, &st) == 0)
            id[0] = st.st_ino, id[1] = (uint64_t)st.st_mtim.tv_sec, id[2] = (uint64_t)st.st_mtim.tv_nsec,
            id[3] = (uint64_t)st.st_size;
        h = fnv(h, id, sizeof(id));
    }
    return h ? h : 1;
}

/* The files kumo.yaml's text names as ${file:PATH} (secrets, in env:,
 * services' headers, store URLs), a relative PATH under the project. */
static int add_file_refs(generation *g, const char *yaml_path)
{
    FILE *f = fopen(yaml_path, "re");
    if (f == NULL)
        return 0;
    char *text = malloc(YAML_SCAN_MAX + 1);
    size_t len = text ? fread(text, 1, YAML_SCAN_MAX, f) : 0;
    fclose(f);
    if (text == NULL)
        return -ENOMEM;
    text[len] = '\0';
    int rc = 0;
    for (char *at = strstr(text, "${file:"); rc == 0 && at; at = strstr(at + 1, "${file:")) {
        char *start = at + 7, *end = strchr(start, '}');
        if (end == NULL || end == start || end - start >= PATH_MAX - 1 - (long)strlen(g->project->dir))
            continue;
        char path[PATH_MAX];
        if (*start == '/')
            snprintf(path, sizeof(path), "%.*s", (int)(end - start), start);
        else
            snprintf(path, sizeof(path), "%s/%.*s", g->project->dir, (int)(end - start), start);
        rc = add_input(g, path);
    }
    free(text);
    return rc;
}

int kumo__gw_inputs_note(generation *g, int64_t started_ns)
{
    const kumo__project *p = g->project;
    char header[PATH_MAX];
    int rc = 0;
    if (p->doc && (rc = add_input(g, kumo__doc_path(p->doc))) == 0)
        rc = add_file_refs(g, kumo__doc_path(p->doc));
    for (size_t i = 0; rc == 0 && g->spec && i < kumo__docset_count(g->spec->docset); i++)
        rc = add_input(g, kumo__docset_real_path(g->spec->docset, i));
    /* services' documents and their mocks' data (--dev loads and checks them) */
    for (size_t i = 0; rc == 0 && i < p->nservices; i++)
        if ((rc = add_input(g, p->services[i].spec)) == 0)
            rc = add_input(g, p->services[i].mock.data);
    /* the security policy's files: a changed htpasswd or JWKS file is read
     * again by a new generation (http.tls's files are read once, at start) */
    for (const char *const *f = kumo__auth_files(g->auth); rc == 0 && f && *f; f++)
        rc = add_input(g, *f);
    snprintf(header, sizeof(header), "%s/kumo.h", kumo__include_dir());
    if (rc == 0 && p->nunits > 0)
        rc = add_input(g, header);
    for (size_t u = 0; rc == 0 && u < p->nunits; u++) {
        for (size_t i = 0; rc == 0 && i < p->units[u].nsources; i++)
            rc = add_input(g, p->units[u].sources[i]);
        char **deps = NULL;
        if (kumo__unit_deps(&p->units[u], &deps) == 0)
            for (size_t i = 0; rc == 0 && deps[i]; i++) {
                char real[PATH_MAX];
                rc = add_input(g, realpath(deps[i], real) ? real : deps[i]);
            }
        free(deps);
    }
    if (rc != 0)
        return rc;
    g->fingerprint = fingerprint(g, started_ns);
    return 0;
}

int kumo__gw_inputs_unchanged(const generation *g)
{
    return g->fingerprint != 0 && fingerprint(g, 0) == g->fingerprint;
}

/* ---- the watcher ---------------------------------------------------------- */

typedef struct watched {
    int wd;
    char *path;
} watched;

struct kumo__gw_watch {
    gateway *gw;
    int ifd, stop[2];
    pthread_t tid;
    int running;
    pthread_mutex_t lock; /* dirs, and inputs (the main thread refreshes them after a reload) */
    watched *dirs;
    size_t ndirs;
    int said_full;
    char **inputs; /* the current generation's inputs, copied */
    size_t ninputs;
    char root[PATH_MAX];
};

static const char *path_of(kumo__gw_watch *w, int wd)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return w->dirs[i].path;
    return NULL;
}

/* Under w->lock. */
static void watch_dir(kumo__gw_watch *w, const char *dir)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (strcmp(w->dirs[i].path, dir) == 0)
            return;
    if (w->ndirs >= WATCH_DIRS_MAX) {
        if (!w->said_full)
            kumo__log_event("warn", "kumo dev watches at most %d folders; %s and others are not watched",
                            WATCH_DIRS_MAX, dir);
        w->said_full = 1;
        return;
    }
    int wd =
        inotify_add_watch(w->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_ONLYDIR);
    if (wd < 0)
        return;
    if (path_of(w, wd) != NULL)
        return; /* the same folder by another name */
    watched *grown = realloc(w->dirs, (w->ndirs + 1) * sizeof(*grown));
    char *copy = strdup(dir);
    if (grown == NULL || copy == NULL) {
        free(copy);
        if (grown)
            w->dirs = grown;
        return;
    }
    w->dirs = grown;
    w->dirs[w->ndirs++] = (watched){.wd = wd, .path = copy};
}

/* The folder and those under it, but .kumo/ and hidden ones. Under w->lock. */
static void watch_tree(kumo__gw_watch *w, const char *dir, int depth)
{
    watch_dir(w, dir);
    DIR *d = depth < 16 ? opendir(dir) : NULL;
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) < (int)sizeof(sub))
            watch_tree(w, sub, depth + 1);
    }
    closedir(d);
}

void kumo__gw_watch_refresh(gateway *gw)
{
    kumo__gw_watch *w = gw->watch;
    if (w == NULL)
        return;
    pthread_mutex_lock(&gw->lock);
    generation *g = gw->current;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&gw->lock);
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->ninputs; i++)
        free(w->inputs[i]);
    free(w->inputs);
    w->inputs = calloc(g->ninputs ? g->ninputs : 1, sizeof(*w->inputs));
    w->ninputs = 0;
    for (size_t i = 0; w->inputs && i < g->ninputs; i++) {
        if ((w->inputs[w->ninputs] = strdup(g->inputs[i])) != NULL)
            w->ninputs++;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", g->inputs[i]);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            watch_dir(w, dir);
        }
    }
    pthread_mutex_unlock(&w->lock);
    kumo__gw_generation_release(g);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether a change to dir/name may matter: an input, or a file of a kind
 * kumo reads in the project (a new source, header or document). Editors'
 * scratch files (.x.swp, x~, 4913) do not. Under w->lock. */
static int matters(kumo__gw_watch *w, const char *path, const char *name)
{
    for (size_t i = 0; i < w->ninputs; i++)
        if (strcmp(w->inputs[i], path) == 0)
            return 1;
    if (name[0] == '.' || has_suffix(name, "~"))
        return 0;
    size_t n = strlen(w->root);
    if (strncmp(path, w->root, n) != 0 || path[n] != '/')
        return 0;
    return has_suffix(name, ".c") || has_suffix(name, ".h") || has_suffix(name, ".yaml") || has_suffix(name, ".yml") ||
           has_suffix(name, ".json");
}

/* What changed, for the line kumo dev prints: "functions/hello.c" (relative
 * to the project), then ", ..." and "and N more". */
typedef struct change {
    char names[512];
    int count;
    uint64_t first_mono_ms;  /* when the first change was read */
    uint64_t last_mono_ms;   /* when the last one was */
    int64_t detected_ms;     /* from the first changed file's mtime to its event read; -1: unknown */
    uint64_t open[OPEN_MAX]; /* hashes of the paths created and not closed since */
    int nopen;
} change;

static uint64_t path_hash(const char *path)
{
    uint64_t h = 14695981039346656037ull;
    return fnv(h, path, strlen(path));
}

/* A file created (its contents may not be written yet), or complete. */
static void note_open(change *c, const char *path, int created)
{
    uint64_t h = path_hash(path);
    for (int i = 0; i < c->nopen; i++)
        if (c->open[i] == h) {
            if (!created)
                c->open[i] = c->open[--c->nopen];
            return;
        }
    if (created && c->nopen < OPEN_MAX)
        c->open[c->nopen++] = h;
}

static void note_change(kumo__gw_watch *w, change *c, const char *path)
{
    size_t n = strlen(w->root);
    const char *shown = strncmp(path, w->root, n) == 0 && path[n] == '/' ? path + n + 1 : path;
    if (c->count == 0) {
        struct timespec now;
        struct stat st;
        clock_gettime(CLOCK_REALTIME, &now);
        c->first_mono_ms = kumo__mono_ms();
        c->detected_ms = -1;
        if (stat(path, &st) == 0) {
            int64_t d = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 + (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
            c->detected_ms = d < 0 ? 0 : d;
        }
    }
    c->last_mono_ms = kumo__mono_ms();
    if (strstr(c->names, shown) != NULL) /* said already (a substring at worst: still said) */
        return;
    size_t used = strlen(c->names);
    if (c->count < 3)
        snprintf(c->names + used, sizeof(c->names) - used, "%s%s", c->count ? ", " : "", shown);
    c->count++;
}

/* Reads what inotify has; 1 when something that matters changed. */
static int drain(kumo__gw_watch *w, change *c)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int any = 0;
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof(buf));
        if (n <= 0)
            return any;
        pthread_mutex_lock(&w->lock);
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                any = 1;
                continue;
            }
            const char *dir = path_of(w, ev->wd);
            if (dir == NULL || ev->len == 0)
                continue;
            char path[PATH_MAX];
            if (snprintf(path, sizeof(path), "%s/%s", dir, ev->name) >= (int)sizeof(path))
                continue;
            if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && ev->name[0] != '.') {
                watch_tree(w, path, 0); /* a new folder: its files may come next */
                continue;
            }
            if (ev->mask & IN_ISDIR)
                continue;
            if (matters(w, path, ev->name)) {
                note_change(w, c, path);
                note_open(c, path, (ev->mask & IN_CREATE) != 0);
                any = 1;
            }
        }
        pthread_mutex_unlock(&w->lock);
    }
}

static void *watch_main(void *arg)
{
    kumo__gw_watch *w = arg;
    gateway *gw = w->gw;
    change c = {.count = 0};
    for (;;) {
        struct pollfd fds[2] = {{.fd = w->ifd, .events = POLLIN}, {.fd = w->stop[0], .events = POLLIN}};
        int timeout = -1;
        if (c.count > 0) { /* until `want` ms of quiet, or DEBOUNCE_MAX_MS in all */
            uint64_t now = kumo__mono_ms(), quiet = now - c.last_mono_ms, all = now - c.first_mono_ms;
            uint64_t want = c.nopen > 0 ? DEBOUNCE_MS : SETTLE_MS;
            if (quiet >= want || all >= DEBOUNCE_MAX_MS)
                timeout = 0;
            else
                timeout = (int)(want - quiet < DEBOUNCE_MAX_MS - all ? want - quiet : DEBOUNCE_MAX_MS - all);
        }
        int n = timeout == 0 ? 0 : poll(fds, 2, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && fds[1].revents)
            break;
        if (n > 0 && (fds[0].revents & POLLIN)) {
            drain(w, &c);
            continue;
        }
        if (c.count == 0 || timeout != 0)
            continue;
        /* quiet long enough (or changing for DEBOUNCE_MAX_MS): reload */
        pthread_mutex_lock(&gw->lock);
        if (c.count > 3) {
            size_t used = strlen(c.names);
            snprintf(c.names + used, sizeof(c.names) - used, " and %d more", c.count - 3);
        }
        memcpy(gw->devwatch.names, c.names, sizeof(gw->devwatch.names));
        gw->devwatch.detected_ms = c.detected_ms;
        gw->devwatch.debounced_ms = (int64_t)(kumo__mono_ms() - c.first_mono_ms);
        gw->devwatch.pending = 1;
        pthread_mutex_unlock(&gw->lock);
        pthread_kill(gw->main_tid, SIGHUP);
        c = (change){.count = 0};
    }
    return NULL;
}

int kumo__gw_watch_start(gateway *gw, kumo__error *err)
{
    kumo__gw_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    w->gw = gw;
    w->stop[0] = w->stop[1] = -1;
    pthread_mutex_init(&w->lock, NULL);
    snprintf(w->root, sizeof(w->root), "%s", gw->current->project->dir);
    if ((w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 || pipe2(w->stop, O_CLOEXEC) != 0) {
        kumo__error_set(err, -errno, "kumo dev cannot watch files (inotify): %s", strerror(errno));
        goto fail;
    }
    pthread_mutex_lock(&w->lock);
    watch_tree(w, w->root, 0);
    pthread_mutex_unlock(&w->lock);
    gw->watch = w;
    kumo__gw_watch_refresh(gw);
    if (pthread_create(&w->tid, NULL, watch_main, w) != 0) {
        gw->watch = NULL;
        kumo__error_set(err, -EAGAIN, "cannot start kumo dev's watcher thread");
        goto fail;
    }
    w->running = 1;
    return 0;
fail:
    kumo__gw_watch_stop(w);
    return err->code;
}

void kumo__gw_watch_stop(kumo__gw_watch *w)
{
    if (w == NULL)
        return;
    if (w->running) {
        (void)!write(w->stop[1], "x", 1);
        pthread_join(w->tid, NULL);
    }
    if (w->ifd >= 0)
        close(w->ifd);
    for (int i = 0; i < 2; i++)
        if (w->stop[i] >= 0)
            close(w->stop[i]);
    for (size_t i = 0; i < w->ndirs; i++)
        free(w->dirs[i].path);
    free(w->dirs);
    for (size_t i = 0; i < w->ninputs; i++)
        free(w->inputs[i]);
    free(w->inputs);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
