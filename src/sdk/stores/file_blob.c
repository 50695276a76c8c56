/*
 * file_blob.c: the embedded blob driver, `file:DIR` (also `file://DIR`, so
 * `file:///abs/dir` is /abs/dir). The default blob store of the local
 * runtime; every worker of a project opens the same DIR.
 *
 * Layout: the object KEY of store NAME is the plain file DIR/NAME/KEY, so a
 * developer can look at them with ls; a '/' in a key is a directory. Temp
 * files live in DIR/.tmp and metadata in DIR/.meta (store names cannot
 * start with '.', so no store sees them), on the same file system as the
 * objects so a rename moves them.
 *
 * Metadata: the content type is kept in DIR/.meta/INODE, named by the
 * inode of the object's file, and written (temp file and rename) before
 * that file is renamed into place: whoever opens an object finds the type
 * of that very file, never the type of the object it replaced or of one
 * being written. A replaced or deleted object's metadata file is removed
 * after it. Extended attributes would be simpler, but the worker's seccomp
 * sandbox allows reading them and not setting them, and some file systems
 * have none. The etag is derived from the file's inode and modification
 * time: every put renames a new inode over the old one, so it changes with
 * every put and needs no storage. Size and modification time are the file's.
 *
 * Atomicity: a put or a streamed writer writes a temp file, fsyncs it and
 * renames it over DIR/NAME/KEY, then fsyncs the directory: a reader sees
 * the old object or the new one, never part of one, and a crash leaves at
 * worst a stray temp file. An aborted writer unlinks its temp file.
 *
 * Keys: blob.c refused absolute keys and ".." segments; here also empty and
 * "." segments (a trailing '/' included), which a file system would merge.
 * A key cannot be both an object and a directory of others ("a" and "a/b"):
 * the second put is KUMO_EINVAL with a message saying why. Deleting the last
 * object of a directory removes the emptied directories up to DIR/NAME.
 *
 * Listing walks DIR/NAME from the deepest directory the prefix names,
 * gathers the keys that start with the prefix, sorts them in byte order
 * (strcmp) and returns those after the cursor (the last key of the previous
 * page): every page walks the prefix's subtree, which is fine for a
 * development store and an honest limit for a large one.
 *
 * Events (docs/events.md, "Blob storage events"): with events= in the URL
 * (kumo's store plan adds it for a store that kumo.yaml's events: watch),
 * every put, streamed commit and delete first records one message per
 * matching event in the outbox DIR/.kumo-events.db, an embedded queue file
 * (sqlite_queue.c; queue STORE.EVENT, one transaction for all of a write's
 * events), and only then renames the object into place or unlinks it. A
 * write whose events cannot be recorded fails and changes nothing, so an
 * object never changes without its events; a crash after the record and
 * before the rename leaves an event for a write that never happened, which
 * the consumer drops (src/gateway/blob_events.c). The value is
 * `NAME:ON:PREFIX:SUFFIX` per event, ';' between events, ON `created`,
 * `deleted` or `created,deleted`, PREFIX and SUFFIX percent-encoded
 * (possibly empty): `events=thumbs:created:img/:.png;audit:created,deleted::`.
 * The message is the event's data, JSON: {"store","key","size","etag",
 * "content_type","event","time"} (size, etag and content_type for created
 * only; time the write's, RFC 3339 UTC with milliseconds).
 *
 * The URL's query: create=false makes open require DIR and puts require
 * DIR/NAME to exist (KUMO_EUNAVAILABLE otherwise); by default both are made.
 */
#include "sdk/sdk.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/percent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TYPE_MAX 256
#define DEFAULT_TYPE "application/octet-stream"
#define WHOLE_GET_MAX ((size_t)256 << 20) /* larger: use a reader */
#define DIR_MAX 2048
#define EVENTS_MAX 64 /* events of one store */
#define OUTBOX_FILE ".kumo-events.db"

enum { ON_CREATED = 1, ON_DELETED = 2 };

/* One event of events= (a store's event under kumo.yaml's events:). */
typedef struct blob_event {
    char *name;
    unsigned on;           /* ON_* bits */
    char *prefix, *suffix; /* decoded; "" for none */
} blob_event;

typedef struct file_blob {
    kumo__blob base; /* first: blob.c sees a kumo__blob */
    char dir[DIR_MAX];
    int create;
    blob_event *events;
    size_t nevents;
    kumo__queue *outbox; /* DIR/.kumo-events.db when there are events, else NULL */
} file_blob;

/* A writer (tmp set) or a reader. */
typedef struct file_stream {
    file_blob *fb;
    int fd;
    char tmp[PATH_MAX];
    char *key;
    char *type;
} file_stream;

static int fail(file_blob *fb, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(file_blob *fb, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fb->base.error, sizeof(fb->base.error), fmt, ap);
    va_end(ap);
    return code;
}

/* An errno from a system call on an object, as a KUMO_E* code. */
static int map_errno(int e)
{
    switch (e) {
    case ENOENT: return KUMO_ENOTFOUND;
    case ENOMEM: return KUMO_ENOMEM;
    case EFBIG:
    case ENAMETOOLONG: return KUMO_ETOOBIG;
    case EACCES:
    case EPERM:
    case EROFS: return KUMO_EUNAVAILABLE;
    default: return KUMO_EIO;
    }
}

/* "." and empty segments (a trailing '/' included) are refused. */
static int key_ok(const char *key)
{
    for (const char *seg = key;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (slash == NULL)
            return 1;
        seg = slash + 1;
    }
}

static int obj_path(file_blob *fb, const char *key, char *buf, size_t size)
{
    if (!key_ok(key))
        return fail(fb, KUMO_EINVAL, "blob key '%s' has an empty or '.' segment", key);
    int n = snprintf(buf, size, "%s/%s/%s", fb->dir, fb->base.name, key);
    if (n < 0 || (size_t)n >= size)
        return fail(fb, KUMO_ETOOBIG, "blob key '%.40s...' makes a path longer than PATH_MAX", key);
    return 0;
}

/* mkdir of every directory of `path` after its first `keep` bytes (which
 * must exist already), up to its last '/'. */
static int make_dirs(file_blob *fb, char *path, size_t keep)
{
    char *last = strrchr(path, '/');
    if (last == NULL)
        return 0;
    for (char *p = path + keep + 1; p <= last; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0755);
        int e = errno;
        struct stat st;
        if (r != 0 && e == EEXIST && stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
            fail(fb, KUMO_EINVAL, "blob '%s' is an object, so it cannot also be a folder of keys",
                 path + strlen(fb->dir) + strlen(fb->base.name) + 2);
            *p = '/';
            return KUMO_EINVAL;
        }
        if (r != 0 && e != EEXIST) {
            fail(fb, map_errno(e), "cannot create directory %s: %s", path, strerror(e));
            *p = '/';
            return map_errno(e) == KUMO_ENOTFOUND ? KUMO_EUNAVAILABLE : map_errno(e);
        }
        *p = '/';
    }
    return 0;
}

/* DIR/NAME exists (made unless create=false). */
static int store_root(file_blob *fb)
{
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s/%s", fb->dir, fb->base.name);
    if (mkdir(root, 0755) == 0 || errno == EEXIST)
        return 0;
    if (!fb->create && errno == ENOENT)
        return fail(fb, KUMO_EUNAVAILABLE, "%s does not exist and the URL says create=false", root);
    return fail(fb, KUMO_EUNAVAILABLE, "cannot create %s: %s", root, strerror(errno));
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void meta_path(file_blob *fb, ino_t ino, char *buf, size_t size)
{
    snprintf(buf, size, "%s/.meta/%llx", fb->dir, (unsigned long long)ino);
}

/* Writes the content type of the file with inode `ino`: temp and rename. */
static int write_meta(file_blob *fb, ino_t ino, const char *type)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.tmp/meta-XXXXXX", fb->dir);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return fail(fb, KUMO_EUNAVAILABLE, "cannot create a temp file in %s/.tmp: %s", fb->dir, strerror(errno));
    int ok = write_all(fd, type, strlen(type)) == 0 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    meta_path(fb, ino, path, sizeof(path));
    if (ok && rename(tmp, path) == 0)
        return 0;
    if (ok)
        e = errno;
    unlink(tmp);
    return fail(fb, map_errno(e) == KUMO_ENOTFOUND ? KUMO_EUNAVAILABLE : map_errno(e),
                "cannot write the content type to %s: %s", path, strerror(e));
}

static void read_meta(file_blob *fb, ino_t ino, char *type, size_t size)
{
    char path[PATH_MAX];
    meta_path(fb, ino, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, type, size - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        snprintf(type, size, "%s", DEFAULT_TYPE); /* a file put there by hand */
    else
        type[n] = '\0';
}

/* Fills info from an open object's fd; strings in the arena. */
static int fill_info(file_blob *fb, kumo__arena *a, int fd, const char *key, kumo_blob_info *info)
{
    struct stat st;
    char type[TYPE_MAX];
    if (fstat(fd, &st) != 0)
        return fail(fb, map_errno(errno), "fstat: %s", strerror(errno));
    read_meta(fb, st.st_ino, type, sizeof(type));
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_mtim.tv_sec, (unsigned long long)st.st_mtim.tv_nsec);
    info->key = kumo__arena_strndup(a, key, strlen(key));
    info->content_type = kumo__arena_strndup(a, type, strlen(type));
    info->etag = kumo__arena_strndup(a, etag, strlen(etag));
    info->size = (uint64_t)st.st_size;
    info->modified_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (info->key == NULL || info->content_type == NULL || info->etag == NULL)
        return KUMO_ENOMEM;
    return 0;
}

/* Opens an object for reading: KUMO_ENOTFOUND for a missing key or one
 * that is a folder of others. */
static int open_obj(file_blob *fb, const char *key, int *fd)
{
    char path[PATH_MAX];
    int rc = obj_path(fb, key, path, sizeof(path));
    if (rc != 0)
        return rc;
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            return fail(fb, KUMO_ENOTFOUND, "no blob '%s'", key);
        return fail(fb, map_errno(errno), "open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return fail(fb, KUMO_ENOTFOUND, "no blob '%s' (a folder of keys)", key);
    }
    return 0;
}

/* ---- events: the outbox ------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Records the events of `fb` that match a write of `key` (on: ON_CREATED
 * with st the new file's stat and type its content type, or ON_DELETED)
 * in the outbox, in one transaction. 0 when none matches or all are
 * recorded; else an error and nothing is recorded. */
static int record_events(file_blob *fb, const char *key, unsigned on, const struct stat *st, const char *type)
{
    const char *queues[EVENTS_MAX] = {0};
    const void *bodies[EVENTS_MAX];
    size_t lens[EVENTS_MAX], n = 0;
    char *names[EVENTS_MAX], *body = NULL;
    json_t *j = NULL;
    int rc = 0;
    for (size_t i = 0; i < fb->nevents; i++) {
        const blob_event *ev = &fb->events[i];
        if ((ev->on & on) && strncmp(key, ev->prefix, strlen(ev->prefix)) == 0 && ends_with(key, ev->suffix))
            names[n++] = ev->name;
    }
    if (n == 0)
        return 0;
    json_t *jkey = json_string(key); /* NULL: not UTF-8 */
    if (jkey == NULL) {
        rc = fail(fb, KUMO_EINVAL,
                  "blob key '%.40s' is not valid UTF-8, and blob events watch it (their data is JSON); use a UTF-8 key",
                  key);
        goto out;
    }
    uint64_t now = kumo__epoch_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    char when[40];
    gmtime_r(&secs, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000));
    if (on == ON_CREATED) {
        char etag[64]; /* as fill_info makes it: the object keeps the temp file's inode and times */
        snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
                 (unsigned long long)st->st_mtim.tv_sec, (unsigned long long)st->st_mtim.tv_nsec);
        j = json_pack("{s:s, s:o, s:I, s:s, s:s, s:s, s:s}", "store", fb->base.name, "key", jkey, "size",
                      (json_int_t)st->st_size, "etag", etag, "content_type", type, "event", "created", "time", when);
    } else {
        j = json_pack("{s:s, s:o, s:s, s:s}", "store", fb->base.name, "key", jkey, "event", "deleted", "time", when);
    }
    if (j == NULL || (body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
        rc = fail(fb, KUMO_ENOMEM, "out of memory recording the events of blob '%s'", key);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *q = NULL;
        if (asprintf(&q, "%s.%s", fb->base.name, names[i]) < 0) {
            rc = fail(fb, KUMO_ENOMEM, "out of memory recording the events of blob '%s'", key);
            goto out;
        }
        queues[i] = q; /* STORE.EVENT */
        bodies[i] = body;
        lens[i] = strlen(body);
    }
    fb->outbox->error[0] = '\0';
    if ((rc = kumo__sqlite_queue_send_many(fb->outbox, queues, bodies, lens, n)) != 0)
        rc = fail(fb, rc == KUMO_ENOMEM ? rc : KUMO_EUNAVAILABLE,
                  "cannot record the %s event of blob '%s' in %s/" OUTBOX_FILE " (%s), so the blob was not %s",
                  on == ON_CREATED ? "created" : "deleted", key, fb->dir,
                  fb->outbox->error[0] ? fb->outbox->error : kumo_strerror(rc),
                  on == ON_CREATED ? "written" : "deleted");
out:
    for (size_t i = 0; i < n; i++)
        free((char *)queues[i]);
    json_decref(j);
    free(body);
    return rc;
}

/* ---- writers (and put, which is one) ------------------------------------ */

static void stream_free(file_stream *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->key);
    free(s->type);
    free(s);
}

static int file_writer_open(kumo__blob *b, const char *key, const char *content_type, kumo__blob_stream **out)
{
    file_blob *fb = (file_blob *)b;
    char path[PATH_MAX];
    int rc = obj_path(fb, key, path, sizeof(path));
    if (rc != 0)
        return rc;
    if ((rc = store_root(fb)) != 0)
        return rc;
    file_stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KUMO_ENOMEM;
    s->fd = -1;
    s->fb = fb;
    s->key = strdup(key);
    s->type = strdup(content_type);
    if (s->key == NULL || s->type == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    snprintf(s->tmp, sizeof(s->tmp), "%s/.tmp/obj-XXXXXX", fb->dir);
    s->fd = mkostemp(s->tmp, O_CLOEXEC);
    if (s->fd < 0) {
        rc = fail(fb, KUMO_EUNAVAILABLE, "cannot create a temp file in %s/.tmp: %s", fb->dir, strerror(errno));
        goto out;
    }
    fchmod(s->fd, 0644);
    *out = (kumo__blob_stream *)s;
out:
    if (rc != 0)
        stream_free(s);
    return rc;
}

static int file_write(kumo__blob_stream *bs, const void *data, size_t len)
{
    file_stream *s = (file_stream *)bs;
    if (write_all(s->fd, data, len) != 0)
        return fail(s->fb, map_errno(errno), "write to %s: %s", s->tmp, strerror(errno));
    return 0;
}

static void file_abort(kumo__blob_stream *bs)
{
    file_stream *s = (file_stream *)bs;
    if (s == NULL)
        return;
    unlink(s->tmp);
    stream_free(s);
}

/* fsyncs the directory holding `path` so a rename into it is durable. */
static void sync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int file_commit(kumo__blob_stream *bs)
{
    file_stream *s = (file_stream *)bs;
    file_blob *fb = s->fb;
    char path[PATH_MAX], meta[PATH_MAX] = "";
    struct stat st, old;
    int rc = obj_path(fb, s->key, path, sizeof(path));
    if (rc != 0)
        goto out;
    if (fstat(s->fd, &st) != 0) {
        rc = fail(fb, map_errno(errno), "fstat %s: %s", s->tmp, strerror(errno));
        goto out;
    }
    if (fsync(s->fd) != 0) {
        rc = fail(fb, map_errno(errno), "fsync %s: %s", s->tmp, strerror(errno));
        goto out;
    }
    if ((rc = write_meta(fb, st.st_ino, s->type)) != 0)
        goto out;
    meta_path(fb, st.st_ino, meta, sizeof(meta));
    if ((rc = make_dirs(fb, path, strlen(fb->dir) + strlen(fb->base.name) + 1)) != 0)
        goto out;
    int present = lstat(path, &old) == 0;
    int replaced = present && S_ISREG(old.st_mode);
    if (present && S_ISDIR(old.st_mode) && fb->nevents) {
        /* the rename would fail: refuse before an event is recorded */
        rc = fail(fb, KUMO_EINVAL, "blob '%s' is a folder of other keys, so it cannot be an object too", s->key);
        goto out;
    }
    if (fb->nevents && (rc = record_events(fb, s->key, ON_CREATED, &st, s->type)) != 0)
        goto out;
    if (rename(s->tmp, path) != 0) {
        int e = errno;
        if (e == EISDIR || e == ENOTEMPTY || e == EEXIST || e == ENOTDIR)
            rc = fail(fb, KUMO_EINVAL,
                      "blob '%s' is a folder of other keys (or under an object), so it cannot be "
                      "an object too",
                      s->key);
        else
            rc = fail(fb, map_errno(e), "rename to %s: %s", path, strerror(e));
        goto out;
    }
    sync_parent(path);
    if (replaced && old.st_ino != st.st_ino) {
        char old_meta[PATH_MAX];
        meta_path(fb, old.st_ino, old_meta, sizeof(old_meta));
        unlink(old_meta);
    }
out:
    if (rc != 0) {
        unlink(s->tmp);
        if (*meta)
            unlink(meta);
    }
    stream_free(s);
    return rc;
}

static int file_put(kumo__blob *b, const char *key, const void *data, size_t len, const char *content_type)
{
    kumo__blob_stream *s = NULL;
    int rc = file_writer_open(b, key, content_type, &s);
    if (rc != 0)
        return rc;
    if ((rc = file_write(s, data, len)) != 0) {
        file_abort(s);
        return rc;
    }
    return file_commit(s);
}

/* ---- readers, get, head, delete ------------------------------------------ */

static int file_reader_open(kumo__blob *b, kumo__arena *a, const char *key, kumo__blob_stream **out,
                            kumo_blob_info *info)
{
    file_blob *fb = (file_blob *)b;
    int fd = -1;
    int rc = open_obj(fb, key, &fd);
    if (rc != 0)
        return rc;
    if ((rc = fill_info(fb, a, fd, key, info)) != 0) {
        close(fd);
        return rc;
    }
    file_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        close(fd);
        return KUMO_ENOMEM;
    }
    s->fb = fb;
    s->fd = fd;
    *out = (kumo__blob_stream *)s;
    return 0;
}

static int file_read(kumo__blob_stream *bs, void *buf, size_t cap, size_t *got)
{
    file_stream *s = (file_stream *)bs;
    ssize_t n;
    do
        n = read(s->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return fail(s->fb, map_errno(errno), "read: %s", strerror(errno));
    *got = (size_t)n;
    return 0;
}

static void file_reader_close(kumo__blob_stream *bs)
{
    stream_free((file_stream *)bs);
}

static int file_get(kumo__blob *b, kumo__arena *a, const char *key, const void **data, size_t *len,
                    kumo_blob_info *info)
{
    file_blob *fb = (file_blob *)b;
    int fd = -1;
    int rc = open_obj(fb, key, &fd);
    if (rc != 0)
        return rc;
    if ((rc = fill_info(fb, a, fd, key, info)) != 0)
        goto out;
    if (info->size > WHOLE_GET_MAX) {
        rc = fail(fb, KUMO_ETOOBIG, "blob '%s' has %llu bytes, over the %zu of a whole get; use a reader", key,
                  (unsigned long long)info->size, WHOLE_GET_MAX);
        goto out;
    }
    size_t size = (size_t)info->size;
    char *buf = kumo__arena_alloc(a, size + 1);
    if (buf == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t n = read(fd, buf + off, size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fail(fb, map_errno(errno), "read %s: %s", key, strerror(errno));
            goto out;
        }
        if (n == 0)
            break; /* cannot shrink under us (renames replace), but be safe */
        off += (size_t)n;
    }
    buf[off] = '\0';
    *data = buf;
    *len = off;
    info->size = off;
out:
    close(fd);
    return rc;
}

static int file_head(kumo__blob *b, kumo__arena *a, const char *key, kumo_blob_info *info)
{
    file_blob *fb = (file_blob *)b;
    int fd = -1;
    int rc = open_obj(fb, key, &fd);
    if (rc != 0)
        return rc;
    rc = fill_info(fb, a, fd, key, info);
    close(fd);
    return rc;
}

static int file_del(kumo__blob *b, const char *key)
{
    file_blob *fb = (file_blob *)b;
    char path[PATH_MAX];
    int rc = obj_path(fb, key, path, sizeof(path));
    if (rc != 0)
        return rc;
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return fail(fb, KUMO_ENOTFOUND, "no blob '%s'", key);
    if (fb->nevents && (rc = record_events(fb, key, ON_DELETED, NULL, NULL)) != 0)
        return rc;
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
            return fail(fb, KUMO_ENOTFOUND, "no blob '%s'", key);
        return fail(fb, map_errno(errno), "unlink %s: %s", path, strerror(errno));
    }
    char meta[PATH_MAX];
    meta_path(fb, st.st_ino, meta, sizeof(meta));
    unlink(meta);
    /* Remove the directories the key emptied, up to DIR/NAME (kept). */
    size_t root = strlen(fb->dir) + strlen(fb->base.name) + 1;
    for (char *slash = strrchr(path, '/'); slash && (size_t)(slash - path) > root; slash = strrchr(path, '/')) {
        *slash = '\0';
        if (rmdir(path) != 0)
            break;
    }
    return 0;
}

/* ---- listing --------------------------------------------------------------- */

typedef struct key_list {
    char **keys;
    size_t n, cap;
} key_list;

static int add_key(key_list *l, const char *key)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **k = realloc(l->keys, cap * sizeof(*k));
        if (k == NULL)
            return KUMO_ENOMEM;
        l->keys = k;
        l->cap = cap;
    }
    if ((l->keys[l->n] = strdup(key)) == NULL)
        return KUMO_ENOMEM;
    l->n++;
    return 0;
}

/* Walks `path` (the directory of keys starting with `rel`, which is "" or
 * ends in '/'), adding the objects' keys that start with `prefix`. */
static int walk(file_blob *fb, char *path, size_t plen, char *rel, size_t rlen, const char *prefix, key_list *l)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : fail(fb, map_errno(errno), "opendir %s: %s", path, strerror(errno));
    int rc = 0;
    size_t pfx = strlen(prefix);
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t nlen = strlen(e->d_name);
        if (plen + 1 + nlen + 1 >= PATH_MAX || rlen + nlen + 2 > KUMO_BLOB_KEY_MAX + 1)
            continue;
        memcpy(rel + rlen, e->d_name, nlen + 1);
        /* Only names that can still lead to the prefix, or are under it. */
        size_t common = rlen + nlen < pfx ? rlen + nlen : pfx;
        if (strncmp(rel, prefix, common) != 0)
            continue;
        path[plen] = '/';
        memcpy(path + plen + 1, e->d_name, nlen + 1);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue; /* deleted while we walk */
        if (S_ISDIR(st.st_mode)) {
            rel[rlen + nlen] = '/';
            rel[rlen + nlen + 1] = '\0';
            rc = walk(fb, path, plen + 1 + nlen, rel, rlen + nlen + 1, prefix, l);
        } else if (S_ISREG(st.st_mode) && rlen + nlen >= pfx) {
            rc = add_key(l, rel);
        }
        path[plen] = '\0';
    }
    closedir(d);
    return rc;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int file_list(kumo__blob *b, kumo__arena *a, const char *prefix, const char *cursor, size_t limit,
                     kumo_blob_page *out)
{
    file_blob *fb = (file_blob *)b;
    key_list l = {0};
    char path[PATH_MAX], rel[KUMO_BLOB_KEY_MAX + 2];
    int rc;

    /* Start at the deepest directory the prefix names ("a/b/c" -> a/b/). */
    const char *slash = strrchr(prefix, '/');
    size_t rlen = slash ? (size_t)(slash - prefix) + 1 : 0;
    memcpy(rel, prefix, rlen);
    rel[rlen] = '\0';
    int n = snprintf(path, sizeof(path), "%s/%s/%.*s", fb->dir, fb->base.name, (int)rlen, prefix);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail(fb, KUMO_ETOOBIG, "prefix too long for a path");
    size_t plen = (size_t)n;
    while (plen > 0 && path[plen - 1] == '/')
        path[--plen] = '\0';
    if ((rc = walk(fb, path, plen, rel, rlen, prefix, &l)) != 0)
        goto out;
    if (l.n > 1)
        qsort(l.keys, l.n, sizeof(*l.keys), cmp_keys);

    size_t first = 0;
    while (cursor && first < l.n && strcmp(l.keys[first], cursor) <= 0)
        first++;
    kumo_blob_info *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (items == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    size_t count = 0, i;
    for (i = first; i < l.n && count < limit; i++) {
        int fd;
        if (open_obj(fb, l.keys[i], &fd) != 0)
            continue; /* deleted since the walk */
        rc = fill_info(fb, a, fd, l.keys[i], &items[count]);
        close(fd);
        if (rc != 0)
            goto out;
        count++;
    }
    fb->base.error[0] = '\0';
    out->items = items;
    out->count = count;
    out->next = i < l.n && count > 0 ? items[count - 1].key : NULL;
out:
    for (size_t j = 0; j < l.n; j++)
        free(l.keys[j]);
    free(l.keys);
    return rc;
}

/* ---- open / close ---------------------------------------------------------- */

static void events_free(file_blob *fb)
{
    for (size_t i = 0; i < fb->nevents; i++) {
        free(fb->events[i].name);
        free(fb->events[i].prefix);
        free(fb->events[i].suffix);
    }
    free(fb->events);
    fb->events = NULL;
    fb->nevents = 0;
}

static void file_close(kumo__store *b)
{
    file_blob *fb = (file_blob *)b;
    if (fb == NULL)
        return;
    kumo__store_close(fb->outbox ? &fb->outbox->store : NULL);
    events_free(fb);
    free(fb);
}

static int bad_events(kumo__error *e, const char *ev, size_t len, const char *why)
{
    kumo__error_set(e, KUMO_EINVAL,
                    "events= in the blob store URL: '%.*s' %s; expected NAME:ON:PREFIX:SUFFIX with ON created, "
                    "deleted or created,deleted, ';' between events (kumo's store plan writes it)",
                    (int)(len < 80 ? len : 80), ev, why);
    return KUMO_EINVAL;
}

/* Parses events= (`value`, undecoded) into fb->events. */
static int parse_events(file_blob *fb, const char *value, kumo__error *e)
{
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ";");
        const char *f[4];
        size_t flen[4], nf = 0;
        for (const char *q = p; nf < 4;) {
            size_t l = strcspn(q, ":;");
            f[nf] = q;
            flen[nf++] = l;
            q += l;
            if (*q != ':')
                break;
            q++;
        }
        if (nf != 4 || f[3] + flen[3] != p + len)
            return bad_events(e, p, len, "does not have 4 fields");
        if (flen[0] == 0 || strspn(f[0], "abcdefghijklmnopqrstuvwxyz0123456789_-") < flen[0])
            return bad_events(e, p, len, "has no event name of a-z, 0-9, '_' and '-'");
        unsigned on = 0;
        for (const char *q = f[1]; q < f[1] + flen[1];) {
            size_t l = strcspn(q, ",:");
            if (l == 7 && strncmp(q, "created", 7) == 0)
                on |= ON_CREATED;
            else if (l == 7 && strncmp(q, "deleted", 7) == 0)
                on |= ON_DELETED;
            else
                return bad_events(e, p, len, "has an ON other than created and deleted");
            q += l;
            if (*q == ',')
                q++;
        }
        if (on == 0)
            return bad_events(e, p, len, "has no ON");
        if (fb->nevents == EVENTS_MAX)
            return bad_events(e, p, len, "is one event too many (at most 64 a store)");
        blob_event *ev = &fb->events[fb->nevents];
        ev->on = on;
        ev->name = strndup(f[0], flen[0]);
        ev->prefix = kumo__percent_dup(f[2], flen[2], KUMO__PCT_NO_NUL);
        ev->suffix = kumo__percent_dup(f[3], flen[3], KUMO__PCT_NO_NUL);
        fb->nevents++;
        if (ev->name == NULL || ev->prefix == NULL || ev->suffix == NULL)
            return bad_events(e, p, len, "has a malformed %-escape in its prefix or suffix");
        p += len;
        if (*p == ';')
            p++;
    }
    return 0;
}

/* Reads events= and opens the outbox when there is one. */
static int open_events(file_blob *fb, const char *url, const char *name, kumo__error *e)
{
    const char *q = strchr(url, '?');
    if (q == NULL || !kumo__url_query(url, "events", NULL, 0))
        return 0;
    size_t cap = strlen(q) + 1;
    char *value = malloc(cap), *obox = NULL;
    int rc = KUMO_ENOMEM;
    if (value == NULL || (fb->events = calloc(EVENTS_MAX, sizeof(*fb->events))) == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        goto out;
    }
    kumo__url_query(url, "events", value, cap);
    if ((rc = parse_events(fb, value, e)) != 0)
        goto out;
    if (asprintf(&obox, "sqlite:%s/" OUTBOX_FILE, fb->dir) < 0) {
        obox = NULL;
        kumo__error_set(e, rc = KUMO_ENOMEM, "out of memory");
        goto out;
    }
    kumo__store *opened = NULL;
    kumo__error qe = {0};
    if ((rc = kumo__store_open(&kumo__queue_kind, obox, name, &opened, &qe)) != 0) {
        kumo__error_set(e, rc, "the blob events' outbox %s/" OUTBOX_FILE " cannot be opened: %s", fb->dir, qe.msg);
        goto out;
    }
    fb->outbox = (kumo__queue *)opened;
out:
    free(value);
    free(obox);
    return rc;
}

int kumo__file_blob_exists(const char *blob_url, const char *store, const char *key)
{
    char path[PATH_MAX];
    if (strncmp(blob_url, "file:", 5) != 0 || !key_ok(key))
        return KUMO_EINVAL;
    const char *p = blob_url + 5;
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    size_t plen = strcspn(p, "?");
    while (plen > 1 && p[plen - 1] == '/')
        plen--;
    int n = snprintf(path, sizeof(path), "%.*s/%s/%s", (int)plen, p, store, key);
    if (n < 0 || (size_t)n >= sizeof(path))
        return KUMO_ETOOBIG;
    struct stat st;
    if (lstat(path, &st) == 0)
        return S_ISREG(st.st_mode);
    return errno == ENOENT || errno == ENOTDIR ? 0 : map_errno(errno);
}

int kumo__file_blob_outbox_url(const char *blob_url, char *buf, size_t size)
{
    if (strncmp(blob_url, "file:", 5) != 0)
        return KUMO_EINVAL;
    const char *p = blob_url + 5;
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    size_t plen = strcspn(p, "?");
    while (plen > 1 && p[plen - 1] == '/')
        plen--;
    int n = snprintf(buf, size, "sqlite:%.*s/" OUTBOX_FILE, (int)plen, p);
    return n < 0 || (size_t)n >= size ? KUMO_ETOOBIG : 0;
}

static int file_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    char create[8] = "true", tmp[PATH_MAX];
    const char *p = url + strlen("file:");
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    size_t plen = strcspn(p, "?");
    *out = NULL;
    if (plen == 0 || plen >= DIR_MAX) {
        kumo__error_set(e, KUMO_EINVAL, "blob store URL has no directory (or one too long); expected file:DIR");
        return KUMO_EINVAL;
    }
    static const char *const known[] = {"create", "events", NULL};
    int krc = kumo__url_params_known(url, known, e);
    if (krc != 0)
        return krc;
    file_blob *fb = calloc(1, sizeof(*fb));
    if (fb == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    memcpy(fb->dir, p, plen);
    while (plen > 1 && fb->dir[plen - 1] == '/')
        plen--;
    fb->dir[plen] = '\0';
    kumo__url_query(url, "create", create, sizeof(create));
    fb->create = strcmp(create, "false") != 0;
    int rc = 0;
    struct stat st;
    int mrc = fb->create ? kumo__mkdirs(fb->dir, 0755) : 0;
    if (mrc != 0) {
        kumo__error_set(e, KUMO_EUNAVAILABLE, "cannot create %s: %s", fb->dir, strerror(-mrc));
        rc = KUMO_EUNAVAILABLE;
        goto out;
    }
    if (stat(fb->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        kumo__error_set(e, KUMO_EUNAVAILABLE, "%s is not a directory%s", fb->dir,
                        fb->create ? "" : " (and the URL says create=false)");
        rc = KUMO_EUNAVAILABLE;
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        snprintf(tmp, sizeof(tmp), "%s/%s", fb->dir, k ? ".meta" : ".tmp");
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            kumo__error_set(e, KUMO_EUNAVAILABLE, "cannot create %s: %s", tmp, strerror(errno));
            rc = KUMO_EUNAVAILABLE;
            goto out;
        }
    }
    if ((rc = open_events(fb, url, name, e)) != 0)
        goto out;
    *out = &fb->base.store;
out:
    if (rc != 0)
        file_close(&fb->base.store);
    return rc;
}

const kumo__blob_driver kumo__blob_file_driver = {
    .common = {.version = KUMO__BLOB_DRIVER_VERSION, .scheme = "file", .open = file_open, .close = file_close},
    .put = file_put,
    .get = file_get,
    .head = file_head,
    .del = file_del,
    .list = file_list,
    .writer_open = file_writer_open,
    .write = file_write,
    .commit = file_commit,
    .abort = file_abort,
    .reader_open = file_reader_open,
    .read = file_read,
    .reader_close = file_reader_close,
};
