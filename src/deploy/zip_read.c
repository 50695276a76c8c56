/*
 * zip_read.c: kumo__zip_extract (zip.h), the reader `kumo emulate lambda`
 * opens function packages with. The archive is mapped read-only and read
 * from its end: the end-of-central-directory record, then each central
 * directory entry (the authority on sizes, CRCs, methods and Unix modes),
 * then the entry's local header, whose name must agree. Entries are
 * stored or deflated (zlib's raw inflate), their CRC-32 and sizes checked.
 *
 * An archive is untrusted input: a name that is absolute, holds a '..'
 * segment or a backslash, a symlink or a device, an encrypted or zip64
 * entry, and any offset or size outside the file are refused with an
 * error naming the entry. Files are created one directory at a time with
 * openat(O_NOFOLLOW), so nothing is written outside `dir` even when `dir`
 * already held symlinks. Executable bits survive (0755), other files get
 * 0644, directories 0755.
 */
#include "deploy/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SIG_EOCD 0x06054b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_LOCAL 0x04034b50u
#define EOCD_SIZE 22
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30
/* What one archive may expand to: well above Lambda's 250 MB unzipped. */
#define EXTRACT_MAX ((uint64_t)2 << 30)

typedef struct zip_map {
    const unsigned char *p;
    size_t len;
    const char *path;
} zip_map;

static unsigned rd16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An entry name safe to print: at most 200 bytes, controls as '?'. */
static void printable(const char *name, size_t len, char *out, size_t size)
{
    size_t n = len < size - 1 ? len : size - 1;
    if (n > 200)
        n = 200;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    out[n] = '\0';
}

/* What makes a name unsafe to extract, or NULL when it is fine. */
static const char *name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "has an empty name";
    if (memchr(name, '\0', len))
        return "has a NUL byte in its name";
    if (name[0] == '/')
        return "has an absolute name; archives must hold relative paths";
    if (memchr(name, '\\', len))
        return "has a backslash in its name; zip paths use '/'";
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && name[j] != '/')
            j++;
        if (j - i == 2 && name[i] == '.' && name[i + 1] == '.')
            return "has a '..' segment in its name, which would write outside the target directory";
        i = j + 1;
    }
    return NULL;
}

/* Opens (creating) the directory `comp` under dirfd, refusing symlinks. */
static int open_dir(int dirfd, const char *comp)
{
    if (mkdirat(dirfd, comp, 0755) != 0 && errno != EEXIST)
        return -1;
    return openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Walks `name` from root, creating its directories; returns the fd of the
 * parent directory and points *leaf at the last segment ("" for a
 * directory entry). */
static int walk(int root, char *name, char **leaf)
{
    int fd = dup(root);
    char *seg = name;
    while (fd >= 0) {
        char *slash = strchr(seg, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        if (seg[0] != '\0' && strcmp(seg, ".") != 0) {
            int next = open_dir(fd, seg);
            close(fd);
            fd = next;
        }
        seg = slash + 1;
    }
    *leaf = seg;
    return fd;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the entry's data to fd: stored or inflated, checking the size
 * and CRC against the central directory. Returns NULL or what was wrong. */
static const char *extract_data(int fd, unsigned method, const unsigned char *data, uint32_t csize, uint32_t usize,
                                uint32_t crc, int *sys_errno)
{
    uLong got_crc = crc32(0L, Z_NULL, 0);
    if (method == 0) {
        if (csize != usize)
            return "is stored with a compressed size unlike its size";
        got_crc = crc32(got_crc, data, usize);
        if (got_crc != crc)
            return "fails its CRC-32 check (the archive is corrupt)";
        if (write_all(fd, data, usize) != 0) {
            *sys_errno = errno;
            return "cannot be written";
        }
        return NULL;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return "cannot be inflated (zlib could not start)";
    const char *problem = NULL;
    unsigned char buf[65536];
    uint64_t total = 0;
    zs.next_in = (unsigned char *)data;
    zs.avail_in = csize;
    for (;;) {
        zs.next_out = buf;
        zs.avail_out = sizeof(buf);
        int zr = inflate(&zs, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END) {
            problem = "has corrupt deflate data";
            break;
        }
        size_t n = sizeof(buf) - zs.avail_out;
        total += n;
        if (total > usize) {
            problem = "inflates to more than its declared size";
            break;
        }
        got_crc = crc32(got_crc, buf, (uInt)n);
        if (n && write_all(fd, buf, n) != 0) {
            *sys_errno = errno;
            problem = "cannot be written";
            break;
        }
        if (zr == Z_STREAM_END)
            break;
        if (zs.avail_in == 0 && n == 0) {
            problem = "has truncated deflate data";
            break;
        }
    }
    inflateEnd(&zs);
    if (problem == NULL && total != usize)
        problem = "inflates to less than its declared size";
    if (problem == NULL && got_crc != crc)
        problem = "fails its CRC-32 check (the archive is corrupt)";
    return problem;
}

static int extract_entries(const zip_map *z, int root, kumo__error *err)
{
    const unsigned char *p = z->p;
    size_t len = z->len;
    /* The end record: the last signature within the comment's reach. */
    if (len < EOCD_SIZE) {
        kumo__error_set(err, -EINVAL, "%s: not a zip archive (too short); give a .zip file", z->path);
        return err->code;
    }
    size_t eocd = len - EOCD_SIZE, stop = len > EOCD_SIZE + 65535 ? len - EOCD_SIZE - 65535 : 0;
    while (rd32(p + eocd) != SIG_EOCD || eocd + EOCD_SIZE + rd16(p + eocd + 20) > len) {
        if (eocd == stop) {
            kumo__error_set(err, -EINVAL, "%s: not a zip archive (no end of central directory); give a .zip file",
                            z->path);
            return err->code;
        }
        eocd--;
    }
    unsigned count = rd16(p + eocd + 10);
    uint32_t cd_size = rd32(p + eocd + 12), cd_off = rd32(p + eocd + 16);
    if (rd16(p + eocd + 4) != 0 || rd16(p + eocd + 6) != 0 || rd16(p + eocd + 8) != count) {
        kumo__error_set(err, -EINVAL, "%s: multi-part zip archives are not supported", z->path);
        return err->code;
    }
    if (count == 0xFFFF || cd_off == 0xFFFFFFFFu || cd_size == 0xFFFFFFFFu) {
        kumo__error_set(err, -EINVAL, "%s: zip64 archives are not supported; function packages stay under 4 GB",
                        z->path);
        return err->code;
    }
    if ((uint64_t)cd_off + cd_size > eocd) {
        kumo__error_set(err, -EINVAL, "%s: the central directory lies outside the file (truncated archive?)", z->path);
        return err->code;
    }
    uint64_t expanded = 0;
    size_t at = cd_off;
    for (unsigned i = 0; i < count; i++) {
        if (at + CENTRAL_SIZE > (size_t)cd_off + cd_size || rd32(p + at) != SIG_CENTRAL) {
            kumo__error_set(err, -EINVAL, "%s: central directory entry %u is malformed (corrupt archive?)", z->path,
                            i + 1);
            return err->code;
        }
        const unsigned char *c = p + at;
        unsigned made_by = rd16(c + 4), flags = rd16(c + 8), method = rd16(c + 10);
        uint32_t crc = rd32(c + 16), csize = rd32(c + 20), usize = rd32(c + 24);
        unsigned nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        uint32_t ext = rd32(c + 38), local = rd32(c + 42);
        const char *name = (const char *)c + CENTRAL_SIZE;
        at += CENTRAL_SIZE + nlen + xlen + clen;
        char shown[256];
        if (at > (size_t)cd_off + cd_size) {
            kumo__error_set(err, -EINVAL, "%s: central directory entry %u runs past the directory (corrupt archive?)",
                            z->path, i + 1);
            return err->code;
        }
        printable(name, nlen, shown, sizeof(shown));
        const char *problem = name_problem(name, nlen);
        unsigned host = made_by >> 8;
        mode_t mode = (host == 3 || host == 19) ? (mode_t)(ext >> 16) : 0;
        int is_dir = (nlen && name[nlen - 1] == '/') || S_ISDIR(mode) || (host != 3 && host != 19 && (ext & 0x10));
        if (problem == NULL && S_ISLNK(mode))
            problem = "is a symbolic link; packages must hold regular files only";
        else if (problem == NULL && (mode & S_IFMT) && !S_ISREG(mode) && !S_ISDIR(mode))
            problem = "is a device, FIFO or socket; packages must hold regular files only";
        else if (problem == NULL && (flags & 1))
            problem = "is encrypted, which kumo does not support";
        else if (problem == NULL && method != 0 && method != 8)
            problem = "uses a compression method other than stored or deflate";
        else if (problem == NULL && (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || local == 0xFFFFFFFFu))
            problem = "needs zip64, which kumo does not support";
        if (problem == NULL) {
            expanded += usize;
            if (expanded > EXTRACT_MAX)
                problem = "takes the archive past 2 GiB expanded";
        }
        const unsigned char *data = NULL;
        if (problem == NULL) {
            if ((uint64_t)local + LOCAL_SIZE > cd_off || rd32(p + local) != SIG_LOCAL) {
                problem = "has no local header where the central directory says (corrupt archive?)";
            } else {
                const unsigned char *l = p + local;
                unsigned lnlen = rd16(l + 26), lxlen = rd16(l + 28);
                uint64_t start = (uint64_t)local + LOCAL_SIZE + lnlen + lxlen;
                if (lnlen != nlen || memcmp(l + LOCAL_SIZE, name, nlen) != 0)
                    problem = "has a local header whose name differs from the central directory's";
                else if (start + csize > cd_off)
                    problem = "has data running past the end of the archive (truncated?)";
                else
                    data = p + start;
            }
        }
        if (problem) {
            kumo__error_set(err, -EINVAL, "%s: entry '%s' %s", z->path, shown, problem);
            return err->code;
        }
        char *copy = strndup(name, nlen), *leaf;
        if (copy == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return err->code;
        }
        int dirfd = walk(root, copy, &leaf);
        int sys = 0;
        if (dirfd < 0) {
            sys = errno;
            problem = "cannot have its directories created (a path segment is a symlink or a file?)";
        } else if (is_dir) {
            if (leaf[0] != '\0' && strcmp(leaf, ".") != 0) {
                int d = open_dir(dirfd, leaf);
                if (d < 0) {
                    sys = errno;
                    problem = "cannot be created as a directory";
                } else {
                    close(d);
                }
            }
        } else if (leaf[0] == '\0' || strcmp(leaf, ".") == 0) {
            problem = "has no file name";
        } else {
            mode_t fmode = (mode & 0111) ? 0755 : 0644;
            int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, fmode);
            if (fd < 0) {
                sys = errno;
                problem = "cannot be created";
            } else {
                problem = extract_data(fd, method, data, csize, usize, crc, &sys);
                if (problem == NULL && fchmod(fd, fmode) != 0) {
                    sys = errno;
                    problem = "cannot have its mode set";
                }
                if (close(fd) != 0 && problem == NULL) {
                    sys = errno;
                    problem = "cannot be written";
                }
            }
        }
        if (dirfd >= 0)
            close(dirfd);
        free(copy);
        if (problem) {
            if (sys)
                kumo__error_set(err, -sys, "%s: entry '%s' %s: %s", z->path, shown, problem, strerror(sys));
            else
                kumo__error_set(err, -EINVAL, "%s: entry '%s' %s", z->path, shown, problem);
            return err->code;
        }
    }
    return 0;
}

/* mkdir -p */
static int mkdir_parents(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int kumo__zip_extract(const char *zip_path, const char *dir, kumo__error *err)
{
    int rc = 0, fd = -1, root = -1;
    zip_map z = {.p = MAP_FAILED, .path = zip_path};
    fd = open(zip_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        kumo__error_set(err, -errno, "%s: cannot open: %s", zip_path, strerror(errno));
        rc = err->code;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        kumo__error_set(err, -EINVAL, "%s: not a regular file; give a .zip file", zip_path);
        rc = err->code;
        goto out;
    }
    z.len = (size_t)st.st_size;
    if (z.len >= EOCD_SIZE) {
        z.p = mmap(NULL, z.len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (z.p == MAP_FAILED) {
            kumo__error_set(err, -errno, "%s: cannot map: %s", zip_path, strerror(errno));
            rc = err->code;
            goto out;
        }
    }
    if (mkdir_parents(dir) != 0) {
        kumo__error_set(err, -errno, "%s: cannot create: %s", dir, strerror(errno));
        rc = err->code;
        goto out;
    }
    root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        kumo__error_set(err, -errno, "%s: cannot open: %s", dir, strerror(errno));
        rc = err->code;
        goto out;
    }
    if (z.p == MAP_FAILED) {
        kumo__error_set(err, -EINVAL, "%s: not a zip archive (too short); give a .zip file", zip_path);
        rc = err->code;
        goto out;
    }
    rc = extract_entries(&z, root, err);
out:
    if (z.p != MAP_FAILED)
        munmap((void *)z.p, z.len);
    if (root >= 0)
        close(root);
    if (fd >= 0)
        close(fd);
    return rc;
}
