/*
 * zip_write.c: the writer half of zip.h. Lambda takes a function's code as
 * a zip and Azure a function app, and the digest `kumo build` prints must
 * not change when nothing did, so the archive is a function of its input
 * alone: entries in the order added, every time 1980-01-01 00:00 (the
 * format's epoch), no extra fields, Unix modes in the external attributes,
 * and zlib's raw deflate at its default level.
 *
 * Each entry is a local header, the data, and later a central directory
 * record. add_file streams: the local header is written with zero sizes,
 * the file deflated through a fixed buffer, and the header patched in
 * place (pwrite) once CRC and sizes are known; when deflate did not make
 * the entry smaller it is rewritten stored. No ZIP64: an archive or an
 * entry past 4 GiB is refused, which no function package comes close to.
 */
#include "deploy/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_END_SIG 0x06054b50u
#define ZIP_DOS_DATE ((0 << 9) | (1 << 5) | 1) /* 1980-01-01 */
#define ZIP_DOS_TIME 0
#define ZIP_VERSION 20                       /* 2.0: deflate */
#define ZIP_MADE_BY ((3 << 8) | ZIP_VERSION) /* 3: Unix, so external attributes hold st_mode */
#define ZIP_FLAG_UTF8 0x0800
#define ZIP_LIMIT 0xFFFFFFFEull
#define ZIP_CHUNK 65536

typedef struct zip_entry {
    char *name;
    uint32_t crc, csize, usize, offset;
    uint16_t method, flags;
    unsigned mode;
} zip_entry;

struct kumo__zip_writer {
    int fd;
    char *path;
    uint64_t off; /* bytes written so far: where the next entry starts */
    zip_entry *entries;
    size_t n, cap;
    int failed; /* the first error's code: close then removes the file */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int fail(kumo__zip_writer *z, kumo__error *err, int code, const char *fmt, const char *what)
{
    kumo__error_set(err, code, fmt, z->path, what, strerror(code < 0 ? -code : code));
    if (z->failed == 0)
        z->failed = err->code;
    return err->code;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Appends to the archive, keeping z->off and the 4 GiB ceiling. */
static int append(kumo__zip_writer *z, const void *buf, size_t len, kumo__error *err)
{
    if (z->off + len > ZIP_LIMIT)
        return fail(z, err, -EFBIG, "%s: the archive would pass 4 GiB%s (%s); kumo writes no ZIP64", "");
    int rc = write_all(z->fd, buf, len);
    if (rc < 0)
        return fail(z, err, rc, "%s: writing%s: %s", "");
    z->off += len;
    return 0;
}

/* A relative '/'-separated name with no '..' segment, not seen before. */
static int check_name(kumo__zip_writer *z, const char *name, kumo__error *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > 0xFFFF || name[0] == '/' || name[len - 1] == '/')
        return fail(z, err, -EINVAL, "%s: entry name '%s' must be a relative file path (%s)", name);
    for (const char *s = name; s; s = strchr(s, '/')) {
        if (*s == '/')
            s++;
        if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || s[2] == '\0'))
            return fail(z, err, -EINVAL, "%s: entry name '%s' has a '..' segment (%s)", name);
    }
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->entries[i].name, name) == 0)
            return fail(z, err, -EEXIST, "%s: entry '%s' added twice (%s)", name);
    return 0;
}

static uint16_t name_flags(const char *name)
{
    for (const unsigned char *s = (const unsigned char *)name; *s; s++)
        if (*s >= 0x80)
            return ZIP_FLAG_UTF8;
    return 0;
}

/* The 30-byte local header (name follows). */
static void local_header(uint8_t *h, const zip_entry *e)
{
    put32(h, ZIP_LOCAL_SIG);
    put16(h + 4, ZIP_VERSION);
    put16(h + 6, e->flags);
    put16(h + 8, e->method);
    put16(h + 10, ZIP_DOS_TIME);
    put16(h + 12, ZIP_DOS_DATE);
    put32(h + 14, e->crc);
    put32(h + 18, e->csize);
    put32(h + 22, e->usize);
    put16(h + 26, (uint16_t)strlen(e->name));
    put16(h + 28, 0);
}

/* Starts entry `name` at the current end: records it, writes its header. */
static zip_entry *begin_entry(kumo__zip_writer *z, const char *name, unsigned mode, uint16_t method, kumo__error *err)
{
    if (z->failed) {
        kumo__error_set(err, z->failed, "%s: an earlier entry failed; the archive is abandoned", z->path);
        return NULL;
    }
    if (check_name(z, name, err) < 0)
        return NULL;
    if (z->n == 0xFFFF) {
        fail(z, err, -EFBIG, "%s: more than 65535 entries at '%s' (%s); kumo writes no ZIP64", name);
        return NULL;
    }
    if (z->n == z->cap) {
        size_t cap = z->cap ? 2 * z->cap : 32;
        zip_entry *ne = realloc(z->entries, cap * sizeof(*ne));
        if (ne == NULL) {
            fail(z, err, -ENOMEM, "%s: adding '%s': %s", name);
            return NULL;
        }
        z->entries = ne;
        z->cap = cap;
    }
    zip_entry *e = &z->entries[z->n];
    memset(e, 0, sizeof(*e));
    if ((e->name = strdup(name)) == NULL) {
        fail(z, err, -ENOMEM, "%s: adding '%s': %s", name);
        return NULL;
    }
    z->n++;
    e->mode = mode & 07777;
    e->method = method;
    e->flags = name_flags(name);
    e->offset = (uint32_t)z->off;
    uint8_t h[30];
    local_header(h, e);
    if (append(z, h, sizeof(h), err) < 0 || append(z, name, strlen(name), err) < 0)
        return NULL;
    return e;
}

/* Rewrites e's local header in place once CRC and sizes are known. */
static int patch_entry(kumo__zip_writer *z, const zip_entry *e, kumo__error *err)
{
    uint8_t h[30];
    local_header(h, e);
    if (pwrite(z->fd, h, sizeof(h), e->offset) != (ssize_t)sizeof(h))
        return fail(z, err, errno ? -errno : -EIO, "%s: patching the header of '%s': %s", e->name);
    return 0;
}

/* Drops everything written for the last entry, to write it again. */
static int rewind_entry(kumo__zip_writer *z, kumo__error *err)
{
    zip_entry *e = &z->entries[z->n - 1];
    if (ftruncate(z->fd, e->offset) < 0 || lseek(z->fd, e->offset, SEEK_SET) < 0)
        return fail(z, err, -errno, "%s: rewinding '%s': %s", e->name);
    z->off = e->offset;
    free(e->name);
    z->n--;
    return 0;
}

int kumo__zip_open(const char *path, kumo__zip_writer **out, kumo__error *err)
{
    kumo__zip_writer *z = calloc(1, sizeof(*z));
    if (z == NULL || (z->path = strdup(path)) == NULL) {
        free(z);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    z->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (z->fd < 0) {
        int e = errno;
        kumo__error_set(err, -e, "%s: cannot create the archive: %s", path, strerror(e));
        free(z->path);
        free(z);
        return -e;
    }
    *out = z;
    return 0;
}

int kumo__zip_add(kumo__zip_writer *z, const char *name, const void *data, size_t len, unsigned mode, kumo__error *err)
{
    if (len > ZIP_LIMIT) {
        fail(z, err, -EFBIG, "%s: entry '%s' is past 4 GiB (%s)", name);
        return err->code;
    }
    int rc = 0;
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    /* crc32 takes a uInt length: feed it in pieces */
    for (size_t done = 0; done < len;) {
        uInt piece = (uInt)(len - done > (1u << 30) ? (1u << 30) : len - done);
        crc = (uint32_t)crc32(crc, (const Bytef *)data + done, piece);
        done += piece;
    }
    uLong bound = compressBound((uLong)len);
    unsigned char *packed = malloc(bound ? bound : 1);
    if (packed == NULL)
        return fail(z, err, -ENOMEM, "%s: adding '%s': %s", name);
    z_stream s;
    memset(&s, 0, sizeof(s));
    size_t csize = len + 1; /* "not smaller" unless deflate succeeds */
    if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
        s.next_in = (Bytef *)data;
        s.avail_in = (uInt)len;
        s.next_out = packed;
        s.avail_out = (uInt)bound;
        if (deflate(&s, Z_FINISH) == Z_STREAM_END)
            csize = s.total_out;
        deflateEnd(&s);
    }
    int deflated = csize < len;
    zip_entry *e = begin_entry(z, name, mode, deflated ? 8 : 0, err);
    if (e == NULL) {
        rc = err->code;
        goto out;
    }
    e->crc = crc;
    e->usize = (uint32_t)len;
    e->csize = (uint32_t)(deflated ? csize : len);
    if ((rc = patch_entry(z, e, err)) < 0)
        goto out;
    rc = append(z, deflated ? (const void *)packed : data, e->csize, err);
out:
    free(packed);
    return rc;
}

/* Streams fd's bytes into the archive, deflated (method 8) or stored;
 * fills e's crc and sizes. */
static int stream_file(kumo__zip_writer *z, zip_entry *e, int fd, kumo__error *err)
{
    int rc = 0;
    unsigned char *in = malloc(ZIP_CHUNK), *outbuf = malloc(ZIP_CHUNK);
    z_stream s;
    int inited = 0;
    memset(&s, 0, sizeof(s));
    if (in == NULL || outbuf == NULL) {
        rc = fail(z, err, -ENOMEM, "%s: adding '%s': %s", e->name);
        goto out;
    }
    if (e->method == 8) {
        if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            rc = fail(z, err, -ENOMEM, "%s: deflate for '%s': %s", e->name);
            goto out;
        }
        inited = 1;
    }
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    uint64_t usize = 0, csize = 0;
    for (;;) {
        ssize_t r = read(fd, in, ZIP_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = fail(z, err, -errno, "%s: reading the file for '%s': %s", e->name);
            goto out;
        }
        usize += (uint64_t)r;
        if (usize > ZIP_LIMIT) {
            rc = fail(z, err, -EFBIG, "%s: entry '%s' is past 4 GiB (%s)", e->name);
            goto out;
        }
        crc = (uint32_t)crc32(crc, in, (uInt)r);
        if (e->method == 0) {
            if (r == 0)
                break;
            if ((rc = append(z, in, (size_t)r, err)) < 0)
                goto out;
            csize += (uint64_t)r;
            continue;
        }
        s.next_in = in;
        s.avail_in = (uInt)r;
        int flush = r == 0 ? Z_FINISH : Z_NO_FLUSH, zrc;
        do {
            s.next_out = outbuf;
            s.avail_out = ZIP_CHUNK;
            zrc = deflate(&s, flush);
            if (zrc == Z_STREAM_ERROR) {
                rc = fail(z, err, -EIO, "%s: deflating '%s': %s", e->name);
                goto out;
            }
            size_t have = ZIP_CHUNK - s.avail_out;
            if (have && (rc = append(z, outbuf, have, err)) < 0)
                goto out;
            csize += have;
        } while (s.avail_out == 0);
        if (r == 0)
            break;
    }
    e->crc = crc;
    e->usize = (uint32_t)usize;
    e->csize = (uint32_t)csize;
out:
    if (inited)
        deflateEnd(&s);
    free(in);
    free(outbuf);
    return rc;
}

int kumo__zip_add_file(kumo__zip_writer *z, const char *name, const char *path, kumo__error *err)
{
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        kumo__error_set(err, -e, "%s: cannot read %s for entry '%s': %s", z->path, path, name, strerror(e));
        if (z->failed == 0)
            z->failed = -e;
        rc = -e;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(z, err, -EINVAL, "%s: entry '%s' is not a regular file (%s)", name);
        goto out;
    }
    unsigned mode = (st.st_mode & 0111) ? 0755 : 0644;
    zip_entry *e = begin_entry(z, name, mode, 8, err);
    if (e == NULL) {
        rc = err->code;
        goto out;
    }
    if ((rc = stream_file(z, e, fd, err)) < 0)
        goto out;
    if (e->csize >= e->usize) {
        /* deflate did not pay: write it again, stored */
        if ((rc = rewind_entry(z, err)) < 0)
            goto out;
        if (lseek(fd, 0, SEEK_SET) < 0) {
            rc = fail(z, err, -errno, "%s: rereading the file for '%s': %s", name);
            goto out;
        }
        if ((e = begin_entry(z, name, mode, 0, err)) == NULL) {
            rc = err->code;
            goto out;
        }
        if ((rc = stream_file(z, e, fd, err)) < 0)
            goto out;
    }
    rc = patch_entry(z, e, err);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int kumo__zip_close(kumo__zip_writer *z, kumo__error *err)
{
    int rc = z->failed;
    if (rc < 0)
        goto out;
    uint64_t start = z->off;
    for (size_t i = 0; i < z->n && rc == 0; i++) {
        const zip_entry *e = &z->entries[i];
        uint8_t h[46];
        put32(h, ZIP_CENTRAL_SIG);
        put16(h + 4, ZIP_MADE_BY);
        put16(h + 6, ZIP_VERSION);
        put16(h + 8, e->flags);
        put16(h + 10, e->method);
        put16(h + 12, ZIP_DOS_TIME);
        put16(h + 14, ZIP_DOS_DATE);
        put32(h + 16, e->crc);
        put32(h + 20, e->csize);
        put32(h + 24, e->usize);
        put16(h + 28, (uint16_t)strlen(e->name));
        put16(h + 30, 0); /* extra */
        put16(h + 32, 0); /* comment */
        put16(h + 34, 0); /* disk */
        put16(h + 36, 0); /* internal attributes */
        put32(h + 38, (uint32_t)(S_IFREG | e->mode) << 16);
        put32(h + 42, e->offset);
        if ((rc = append(z, h, sizeof(h), err)) == 0)
            rc = append(z, e->name, strlen(e->name), err);
    }
    if (rc < 0)
        goto out;
    uint8_t end[22];
    put32(end, ZIP_END_SIG);
    put16(end + 4, 0);
    put16(end + 6, 0);
    put16(end + 8, (uint16_t)z->n);
    put16(end + 10, (uint16_t)z->n);
    put32(end + 12, (uint32_t)(z->off - start));
    put32(end + 16, (uint32_t)start);
    put16(end + 20, 0);
    rc = append(z, end, sizeof(end), err);
out:
    if (z->fd >= 0 && close(z->fd) < 0 && rc == 0) {
        int e = errno;
        kumo__error_set(err, -e, "%s: closing: %s", z->path, strerror(e));
        rc = -e;
    }
    if (rc < 0)
        unlink(z->path);
    for (size_t i = 0; i < z->n; i++)
        free(z->entries[i].name);
    free(z->entries);
    free(z->path);
    free(z);
    return rc;
}
