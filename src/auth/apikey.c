/*
 * apikey.c: see apikey.h. A presented key is hashed with SHA-256 and the
 * digest compared with every configured key's (kumo__same_secret, all of them,
 * whichever matched): comparing digests of fixed size leaks neither a
 * key's length nor its prefix, and the clear keys are dropped as soon as
 * they are hashed.
 */
#include "auth/apikey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/digest.h"
#include "base/percent.h"
#include "project/services.h"

#define DIGEST 32
#define KEYS_MAX 1024

typedef struct key {
    unsigned char digest[DIGEST];
    char *name;
} key;

struct kumo__apikeys {
    key *keys;
    size_t n;
};

static int digest(const char *s, size_t len, unsigned char out[DIGEST])
{
    kumo__sha256(s, len, out); /* BearSSL's: an API key needs no libcrypto */
    return 0;
}

static int add_key(kumo__apikeys *k, const kumo__doc *doc, const json_t *item, const char *value, const char *name,
                   const char *scheme, const char *dir, kumo__error *err)
{
    kumo__error e = {0};
    int refs = kumo__secret_refs_check(value, &e);
    if (refs < 0) {
        kumo__doc_error(err, doc, item, "security.%s.keys: %s", scheme, e.msg);
        return -EINVAL;
    }
    if (refs == 0) {
        kumo__doc_error(err, doc, item,
                        "security.%s.keys: a key written in kumo.yaml would be in the repository; give a secret "
                        "reference instead: ${env:NAME} or ${file:PATH}",
                        scheme);
        return -EINVAL;
    }
    char *clear = NULL;
    int rc = kumo__secret_expand(value, dir, &clear, &e);
    if (rc != 0) {
        kumo__doc_error(err, doc, item, "security.%s.keys: %s", scheme, e.msg);
        return rc;
    }
    if (*clear == '\0') {
        free(clear);
        kumo__doc_error(err, doc, item, "security.%s.keys: the reference gives an empty key; set it", scheme);
        return -EINVAL;
    }
    key *d = &k->keys[k->n];
    rc = digest(clear, strlen(clear), d->digest);
    explicit_bzero(clear, strlen(clear));
    free(clear);
    char auto_name[32];
    snprintf(auto_name, sizeof(auto_name), "key-%zu", k->n + 1);
    if (rc != 0 || (d->name = strdup(name ? name : auto_name)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    k->n++;
    return 0;
}

int kumo__apikeys_load(const kumo__doc *doc, const json_t *cfg, const char *scheme, const char *dir,
                       kumo__apikeys **out, kumo__error *err)
{
    *out = NULL;
    const json_t *keys = json_object_get(cfg, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        kumo__doc_error(err, doc, keys ? keys : cfg,
                        "security.%s: an apiKey scheme takes `keys:`, a list of secret references "
                        "(keys: [${env:API_KEY}]); give at least one",
                        scheme);
        return -EINVAL;
    }
    if (json_array_size(keys) > KEYS_MAX) {
        kumo__doc_error(err, doc, keys, "security.%s.keys: at most %d keys", scheme, KEYS_MAX);
        return -EINVAL;
    }
    kumo__apikeys *k = calloc(1, sizeof(*k));
    if (k == NULL || (k->keys = calloc(json_array_size(keys), sizeof(*k->keys))) == NULL) {
        free(k);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(keys, i, item)
    {
        const char *value = json_string_value(item), *name = NULL;
        if (json_is_object(item)) {
            value = json_string_value(json_object_get(item, "key"));
            name = json_string_value(json_object_get(item, "name"));
            const char *k2;
            json_t *v2;
            json_object_foreach((json_t *)item, k2, v2)
            {
                if (strcmp(k2, "key") != 0 && strcmp(k2, "name") != 0) {
                    kumo__doc_key_error(err, doc, item, k2,
                                        "security.%s.keys: unknown key '%s'; an entry takes "
                                        "name: and key:",
                                        scheme, k2);
                    rc = -EINVAL;
                    goto out;
                }
            }
            if (name == NULL || *name == '\0' || strlen(name) > 128) {
                kumo__doc_error(err, doc, item,
                                "security.%s.keys: an entry with key: needs a name: (1 to 128 "
                                "characters), what the handler sees as the caller",
                                scheme);
                rc = -EINVAL;
                goto out;
            }
        }
        if (value == NULL) {
            kumo__doc_error(err, doc, item, "security.%s.keys: each key is a secret reference string or {name:, key:}",
                            scheme);
            rc = -EINVAL;
            goto out;
        }
        if ((rc = add_key(k, doc, item, value, name, scheme, dir, err)) != 0)
            goto out;
    }
out:
    if (rc != 0)
        kumo__apikeys_free(k);
    else
        *out = k;
    return rc;
}

void kumo__apikeys_free(kumo__apikeys *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i].name);
    explicit_bzero(k->keys, k->n * sizeof(*k->keys));
    free(k->keys);
    free(k);
}

const char *kumo__apikeys_match(const kumo__apikeys *k, const char *s, size_t len)
{
    unsigned char d[DIGEST];
    if (k == NULL || digest(s, len, d) != 0)
        return NULL;
    size_t found = k->n;
    for (size_t i = 0; i < k->n; i++) {
        int same = kumo__same_secret(d, k->keys[i].digest, DIGEST);
        /* keep the first match without branching on secret data more than this */
        found = same && found == k->n ? i : found;
    }
    explicit_bzero(d, sizeof(d));
    return found < k->n ? k->keys[found].name : NULL;
}

/* The value of key `name` in "a=1&b=2" (sep '&') or "a=1; b=2" (sep ';'):
 * 1 and *v, *vlen; 0 when absent. */
static int find_pair(const char *list, size_t len, char sep, const char *name, const char **v, size_t *vlen)
{
    size_t n = strlen(name), i = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == sep))
            i++;
        size_t s = i;
        while (i < len && list[i] != '=' && list[i] != sep)
            i++;
        size_t klen = i - s;
        size_t vs = i < len && list[i] == '=' ? i + 1 : i;
        i = vs;
        while (i < len && list[i] != sep)
            i++;
        if (klen == n && memcmp(list + s, name, n) == 0) {
            *v = list + vs;
            *vlen = i - vs;
            return 1;
        }
    }
    return 0;
}

int kumo__apikey_find(const kumo__sec_scheme *sc, const kumo__header_view *headers, size_t nheaders, kumo__slice query,
                      char *buf, size_t cap, size_t *len)
{
    const char *v = NULL;
    size_t vl = 0;
    size_t n = strlen(sc->key_name);
    if (sc->in == KUMO__IN_HEADER) {
        for (size_t i = 0; i < nheaders && v == NULL; i++)
            if (headers[i].name.len == n && memcmp(headers[i].name.base, sc->key_name, n) == 0)
                v = headers[i].value.base, vl = headers[i].value.len;
    } else if (sc->in == KUMO__IN_QUERY) {
        if (query.base == NULL || !find_pair(query.base, query.len, '&', sc->key_name, &v, &vl))
            return 0;
        if (vl > cap)
            return -1;
        ssize_t d = kumo__percent_decode_into(v, vl, buf, KUMO__PCT_PLUS);
        if (d < 0)
            return -1;
        *len = (size_t)d;
        return *len > 0;
    } else if (sc->in == KUMO__IN_COOKIE) {
        for (size_t i = 0; i < nheaders && v == NULL; i++)
            if (headers[i].name.len == 6 && memcmp(headers[i].name.base, "cookie", 6) == 0 &&
                !find_pair(headers[i].value.base, headers[i].value.len, ';', sc->key_name, &v, &vl))
                v = NULL;
    }
    if (v == NULL || vl == 0)
        return 0;
    if (vl > cap)
        return -1;
    memcpy(buf, v, vl);
    *len = vl;
    return 1;
}
