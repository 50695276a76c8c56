/*
 * oci.c: writes an OCI image layout (oci.h), following the image spec's
 * image-layout, manifest, config and descriptor documents:
 *
 *     oci-layout                      {"imageLayoutVersion":"1.0.0"}
 *     index.json                      an image index with one manifest descriptor, named by
 *                                     the org.opencontainers.image.ref.name annotation
 *     blobs/sha256/<layer>            tar+gzip of the tree (mediaType ...layer.v1.tar+gzip)
 *     blobs/sha256/<config>           architecture, os, config (Entrypoint, Env, ExposedPorts,
 *                                     WorkingDir), rootfs.diff_ids (sha256 of the plain tar)
 *     blobs/sha256/<manifest>         schemaVersion 2, config and layer descriptors
 *
 * The layer is streamed: each tar block goes through one SHA-256 (the
 * diff_id) and into zlib's gzip deflate, whose output goes through a
 * second SHA-256 (the layer's digest) into a temporary blob renamed to its
 * digest at the end. The tar is POSIX ustar (names past 100 bytes split
 * into prefix and name; longer ones refused), entries in kumo__tree_list's
 * order below the prefix, with fixed owner, mtime and modes.
 */
#include "deploy/oci.h"

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
#include <zlib.h>

#include "deploy/bundle.h"

#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define OCI_CONFIG_TYPE "application/vnd.oci.image.config.v1+json"
#define OCI_INDEX_TYPE "application/vnd.oci.image.index.v1+json"
#define OCI_LAYER_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_EPOCH "1970-01-01T00:00:00Z"
#define OCI_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define TAR_BLOCK 512
#define CHUNK 65536

const char *kumo__oci_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#else
    return "unknown";
#endif
}

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static void hex_digest(EVP_MD_CTX *md, char out[72])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    strcpy(out, "sha256:");
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 7 + 2 * i, "%02x", d[i]);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ---- the layer: tar -> sha256 (diff_id) -> gzip -> sha256 (digest) -> file -- */

typedef struct layer {
    int fd;
    const char *path;
    z_stream gz;
    int gz_inited;
    EVP_MD_CTX *tar_md, *gz_md;
    uint64_t gz_size;
    unsigned char out[CHUNK];
} layer;

static int layer_feed(layer *l, const void *data, size_t len, int finish, kumo__error *err)
{
    if (len)
        EVP_DigestUpdate(l->tar_md, data, len);
    l->gz.next_in = (Bytef *)data;
    l->gz.avail_in = (uInt)len;
    int zrc;
    do {
        l->gz.next_out = l->out;
        l->gz.avail_out = CHUNK;
        zrc = deflate(&l->gz, finish ? Z_FINISH : Z_NO_FLUSH);
        if (zrc == Z_STREAM_ERROR) {
            kumo__error_set(err, -EIO, "%s: gzip failed", l->path);
            return -EIO;
        }
        size_t have = CHUNK - l->gz.avail_out;
        if (have) {
            EVP_DigestUpdate(l->gz_md, l->out, have);
            int rc = write_all(l->fd, l->out, have);
            if (rc < 0) {
                kumo__error_set(err, rc, "writing %s: %s", l->path, strerror(-rc));
                return rc;
            }
            l->gz_size += have;
        }
    } while (l->gz.avail_out == 0 || (finish && zrc != Z_STREAM_END));
    return 0;
}

static void octal(char *field, size_t width, uint64_t v)
{
    /* width-1 digits and a NUL, as ustar writers do */
    snprintf(field, width, "%0*llo", (int)(width - 1), (unsigned long long)v);
}

/* One ustar header for `name` (a directory when is_dir: '/' appended). */
static int tar_header(layer *l, const char *name, int is_dir, unsigned mode, uint64_t size, kumo__error *err)
{
    unsigned char h[TAR_BLOCK];
    char full[PATH_MAX];
    memset(h, 0, sizeof(h));
    snprintf(full, sizeof(full), "%s%s", name, is_dir ? "/" : "");
    size_t len = strlen(full);
    const char *base = full;
    size_t plen = 0;
    if (len > 100) {
        /* split at a '/' so that the name part fits in 100 and the prefix in 155 */
        const char *cut = NULL;
        for (const char *s = full; *s; s++)
            if (*s == '/' && s != full + len - 1 && (size_t)(s - full) <= 155 && len - (size_t)(s - full) - 1 <= 100) {
                cut = s;
                break;
            }
        if (cut == NULL) {
            kumo__error_set(err, -ENAMETOOLONG,
                            "'%s' is too long for a tar name (ustar: 155 + 100 bytes); shorten the path", full);
            return -ENAMETOOLONG;
        }
        plen = (size_t)(cut - full);
        base = cut + 1;
    }
    memcpy(h, base, strlen(base));
    octal((char *)h + 100, 8, mode);
    octal((char *)h + 108, 8, 0); /* uid */
    octal((char *)h + 116, 8, 0); /* gid */
    octal((char *)h + 124, 12, is_dir ? 0 : size);
    octal((char *)h + 136, 12, 0); /* mtime */
    memset(h + 148, ' ', 8);       /* checksum, counted as spaces */
    h[156] = is_dir ? '5' : '0';
    memcpy(h + 257, "ustar", 6); /* magic with its NUL */
    memcpy(h + 263, "00", 2);
    octal((char *)h + 329, 8, 0); /* devmajor */
    octal((char *)h + 337, 8, 0); /* devminor */
    if (plen)
        memcpy(h + 345, full, plen);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(h); i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum); /* six digits, NUL, and the space already there */
    h[155] = ' ';
    return layer_feed(l, h, sizeof(h), 0, err);
}

static int tar_file(layer *l, const char *name, const char *path, unsigned mode, uint64_t size, kumo__error *err)
{
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf = malloc(CHUNK);
    uint64_t done = 0;
    if (fd < 0 || buf == NULL) {
        rc = buf ? -errno : -ENOMEM;
        kumo__error_set(err, rc, "cannot read %s: %s", path, strerror(-rc));
        goto out;
    }
    if ((rc = tar_header(l, name, 0, mode, size, err)) < 0)
        goto out;
    while (done < size) {
        size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
        ssize_t r = read(fd, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            kumo__error_set(err, rc, "reading %s: %s (did it change while kumo read it?)", path,
                            r < 0 ? strerror(-rc) : "shorter than it was");
            goto out;
        }
        if ((rc = layer_feed(l, buf, (size_t)r, 0, err)) < 0)
            goto out;
        done += (uint64_t)r;
    }
    size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
    if (pad) {
        memset(buf, 0, pad);
        rc = layer_feed(l, buf, pad, 0, err);
    }
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The whole layer: the mount points and the prefix's tree, in name order. */
static int write_layer(layer *l, const kumo__oci_image *img, const kumo__tree *tree, kumo__error *err)
{
    static const char *const mounts[] = {"dev", "proc", "sys", "tmp"};
    int rc = 0, prefix_done = 0;
    char name[PATH_MAX], path[PATH_MAX];
    for (size_t m = 0; m <= sizeof(mounts) / sizeof(mounts[0]); m++) {
        const char *mount = m < sizeof(mounts) / sizeof(mounts[0]) ? mounts[m] : NULL;
        if (!prefix_done && (mount == NULL || strcmp(img->prefix, mount) < 0)) {
            prefix_done = 1;
            if ((rc = tar_header(l, img->prefix, 1, 0755, 0, err)) < 0)
                return rc;
            for (size_t i = 0; i < tree->n; i++) {
                const kumo__tree_entry *e = &tree->items[i];
                snprintf(name, sizeof(name), "%s/%s", img->prefix, e->path);
                snprintf(path, sizeof(path), "%s/%s", img->root, e->path);
                rc = e->is_dir ? tar_header(l, name, 1, e->mode, 0, err)
                               : tar_file(l, name, path, e->mode, e->size, err);
                if (rc < 0)
                    return rc;
            }
        }
        if (mount && strcmp(mount, img->prefix) != 0 &&
            (rc = tar_header(l, mount, 1, strcmp(mount, "tmp") == 0 ? 01777 : 0755, 0, err)) < 0)
            return rc;
    }
    unsigned char end[2 * TAR_BLOCK];
    memset(end, 0, sizeof(end));
    return layer_feed(l, end, sizeof(end), 1, err);
}

/* ---- blobs and JSON ---------------------------------------------------------- */

/* Writes `data` as a blob of the layout; *digest gets "sha256:<hex>". */
static int write_blob(const char *layout, const char *data, size_t len, char digest[72], kumo__error *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return oom(err);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, data, len);
    hex_digest(md, digest);
    EVP_MD_CTX_free(md);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest + 7);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : write_all(fd, data, len);
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        kumo__error_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
    return rc;
}

static int write_text(const char *layout, const char *name, const char *text, kumo__error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", layout, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : write_all(fd, text, strlen(text));
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        kumo__error_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
    return rc;
}

static json_t *string_array(const char *first, const char *const *v)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    if (first && json_array_append_new(a, json_string(first)) < 0)
        goto fail;
    for (size_t i = 0; v && v[i]; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0)
            goto fail;
    return a;
fail:
    json_decref(a);
    return NULL;
}

static json_t *descriptor(const char *type, const char *digest, uint64_t size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", type, "digest", digest, "size", (json_int_t)size);
}

/* Serialises `j` (consumed) compactly with sorted keys. */
static char *dump(json_t *j)
{
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static int layout_size(const char *layout, uint64_t *size, kumo__error *err)
{
    kumo__tree t;
    int rc = kumo__tree_list(layout, &t, err);
    if (rc < 0)
        return rc;
    *size = 0;
    for (size_t i = 0; i < t.n; i++)
        *size += t.items[i].size;
    kumo__tree_free(&t);
    return 0;
}

int kumo__oci_write(const char *layout_path, const kumo__oci_image *img, char **digest_out, uint64_t *size,
                    kumo__error *err)
{
    int rc = 0;
    char tmp[PATH_MAX], path[PATH_MAX], layer_digest[72], diff_id[72], config_digest[72], manifest_digest[72];
    char *config = NULL, *manifest = NULL, *index = NULL;
    kumo__tree tree = {0};
    layer l;
    memset(&l, 0, sizeof(l));
    l.fd = -1;
    *digest_out = NULL;

    if (strchr(img->prefix, '/') || !*img->prefix) {
        kumo__error_set(err, -EINVAL, "image prefix '%s' must be one path component", img->prefix);
        return -EINVAL;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", layout_path) >= (int)sizeof(tmp)) {
        kumo__error_set(err, -ENAMETOOLONG, "%s: path too long", layout_path);
        return -ENAMETOOLONG;
    }
    if ((rc = kumo__tree_list(img->root, &tree, err)) < 0)
        goto out;
    kumo__rmtree(tmp);
    snprintf(path, sizeof(path), "%s/blobs/sha256", tmp);
    if ((rc = kumo__mkdirs(path, 0755)) < 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", path, strerror(-rc));
        goto out;
    }

    /* the layer */
    snprintf(path, sizeof(path), "%s/blobs/sha256/layer.partial", tmp);
    l.path = path;
    l.tar_md = EVP_MD_CTX_new();
    l.gz_md = EVP_MD_CTX_new();
    if (l.tar_md == NULL || l.gz_md == NULL) {
        rc = oom(err);
        goto out;
    }
    EVP_DigestInit_ex(l.tar_md, EVP_sha256(), NULL);
    EVP_DigestInit_ex(l.gz_md, EVP_sha256(), NULL);
    /* windowBits 15 + 16: a gzip wrapper; with no gz_header set, zlib writes
     * mtime 0 and no name, so the bytes depend on the input alone */
    if (deflateInit2(&l.gz, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        rc = oom(err);
        goto out;
    }
    l.gz_inited = 1;
    if ((l.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "cannot create %s: %s", path, strerror(-rc));
        goto out;
    }
    if ((rc = write_layer(&l, img, &tree, err)) < 0)
        goto out;
    if (close(l.fd) < 0) {
        l.fd = -1;
        rc = -errno;
        kumo__error_set(err, rc, "writing %s: %s", path, strerror(-rc));
        goto out;
    }
    l.fd = -1;
    hex_digest(l.tar_md, diff_id);
    hex_digest(l.gz_md, layer_digest);
    char final[PATH_MAX];
    snprintf(final, sizeof(final), "%s/blobs/sha256/%s", tmp, layer_digest + 7);
    if (rename(path, final) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "renaming %s: %s", path, strerror(-rc));
        goto out;
    }

    /* config, manifest, index */
    json_t *cfg = json_object(), *c = json_object();
    if (cfg == NULL || c == NULL) {
        json_decref(cfg);
        json_decref(c);
        rc = oom(err);
        goto out;
    }
    json_object_set_new(c, "Entrypoint", string_array(NULL, img->entrypoint));
    json_object_set_new(c, "Env", string_array(OCI_PATH, img->env));
    if (img->exposed_port)
        json_object_set_new(c, "ExposedPorts", json_pack("{s:{}}", img->exposed_port));
    if (img->workdir)
        json_object_set_new(c, "WorkingDir", json_string(img->workdir));
    if (img->title)
        json_object_set_new(c, "Labels", json_pack("{s:s}", "org.opencontainers.image.title", img->title));
    json_object_set_new(cfg, "created", json_string(OCI_EPOCH));
    json_object_set_new(cfg, "architecture", json_string(kumo__oci_arch()));
    json_object_set_new(cfg, "os", json_string("linux"));
    json_object_set_new(cfg, "config", c);
    json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:[s]}", "type", "layers", "diff_ids", diff_id));
    json_object_set_new(cfg, "history", json_pack("[{s:s, s:s}]", "created", OCI_EPOCH, "created_by", "kumo build"));
    if ((config = dump(cfg)) == NULL) {
        rc = oom(err);
        goto out;
    }
    if ((rc = write_blob(tmp, config, strlen(config), config_digest, err)) < 0)
        goto out;

    json_t *m = json_pack("{s:i, s:s, s:o, s:[o]}", "schemaVersion", 2, "mediaType", OCI_MANIFEST_TYPE, "config",
                          descriptor(OCI_CONFIG_TYPE, config_digest, strlen(config)), "layers",
                          descriptor(OCI_LAYER_TYPE, layer_digest, l.gz_size));
    if ((manifest = dump(m)) == NULL) {
        rc = oom(err);
        goto out;
    }
    if ((rc = write_blob(tmp, manifest, strlen(manifest), manifest_digest, err)) < 0)
        goto out;

    json_t *md = descriptor(OCI_MANIFEST_TYPE, manifest_digest, strlen(manifest));
    if (md) {
        json_object_set_new(md, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", img->ref_name));
        json_object_set_new(md, "platform", json_pack("{s:s, s:s}", "architecture", kumo__oci_arch(), "os", "linux"));
    }
    json_t *ix = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", OCI_INDEX_TYPE, "manifests", md);
    if ((index = dump(ix)) == NULL) {
        rc = oom(err);
        goto out;
    }
    if ((rc = write_text(tmp, "index.json", index, err)) < 0 ||
        (rc = write_text(tmp, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err)) < 0)
        goto out;

    /* swap it in */
    if ((rc = kumo__rmtree(layout_path)) < 0) {
        kumo__error_set(err, rc, "cannot remove the previous %s: %s", layout_path, strerror(-rc));
        goto out;
    }
    if (rename(tmp, layout_path) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "renaming %s to %s: %s", tmp, layout_path, strerror(-rc));
        goto out;
    }
    if ((rc = layout_size(layout_path, size, err)) < 0)
        goto out;
    if ((*digest_out = strdup(manifest_digest)) == NULL)
        rc = oom(err);
out:
    if (l.fd >= 0)
        close(l.fd);
    if (l.gz_inited)
        deflateEnd(&l.gz);
    EVP_MD_CTX_free(l.tar_md);
    EVP_MD_CTX_free(l.gz_md);
    free(config);
    free(manifest);
    free(index);
    kumo__tree_free(&tree);
    if (rc < 0)
        kumo__rmtree(tmp);
    return rc;
}
