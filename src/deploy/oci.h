/*
 * oci.h: an OCI image layout written by kumo itself, with no container
 * engine (oci.c): one gzip'd tar layer holding a directory tree under a
 * prefix, an image config, a manifest, and index.json naming it by a ref
 * ("latest"). Everything is a function of the input: tar entries sorted,
 * mtime 0, uid and gid 0, modes normalised (0755/0644), gzip without a
 * timestamp, JSON with sorted keys; so the same tree gives the same
 * manifest digest. skopeo (oci:PATH) and umoci (--image PATH:REF) read it.
 */
#ifndef KUMO_OCI_H
#define KUMO_OCI_H

#include <stdint.h>

#include "base/error.h"

typedef struct kumo__oci_image {
    const char *root;              /* the directory tree to put in the layer */
    const char *prefix;            /* where it goes in the image: "kumo" -> /kumo */
    const char *const *entrypoint; /* NULL-terminated */
    const char *const *env;        /* "NAME=VALUE", NULL-terminated; PATH is added first */
    const char *exposed_port;      /* "8080/tcp", or NULL */
    const char *workdir;           /* "/kumo", or NULL */
    const char *ref_name;          /* index.json's org.opencontainers.image.ref.name */
    const char *title;             /* org.opencontainers.image.title annotation, or NULL */
} kumo__oci_image;

/* Writes the layout at `layout` (a directory; replaced when it exists: the
 * new one is written beside it and renamed over). The layer also holds
 * empty /dev, /proc, /sys and /tmp (1777) for the runtime to mount on.
 * *digest gets "sha256:<hex>" of the manifest (malloc'd, the caller
 * frees), *size the layout's bytes on disk. */
int kumo__oci_write(const char *layout, const kumo__oci_image *img, char **digest, uint64_t *size, kumo__error *err);

/* The architecture name of this build in OCI's terms ("amd64", "arm64"). */
const char *kumo__oci_arch(void);

#endif
