/*
 * apikey.h: the keys of an apiKey scheme (apikey.c). kumo.yaml lists them
 * under security.NAME.keys as secret references (${env:NAME},
 * ${file:PATH}); they are expanded once, kept only as SHA-256 digests, and
 * a presented key is compared with each digest in constant time. A key is
 * never logged and never in a message; the handler learns which key was
 * used by its name (kumo_request_auth_subject).
 */
#ifndef KUMO_AUTH_APIKEY_H
#define KUMO_AUTH_APIKEY_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "openapi/check.h"
#include "openapi/openapi.h"
#include "openapi/security.h"

typedef struct kumo__apikeys kumo__apikeys;

/* Reads `keys:` of one scheme's entry `cfg` (in kumo.yaml `doc`), secret
 * references expanded under `dir`: each item a reference string (its
 * subject "key-N", N from 1) or {name:, key:}. A key written in clear is
 * refused (it would be in the repository), so is an empty list. */
int kumo__apikeys_load(const kumo__doc *doc, const json_t *cfg, const char *scheme, const char *dir,
                       kumo__apikeys **out, kumo__error *err);
void kumo__apikeys_free(kumo__apikeys *k);
/* The key's name (borrowed from k) when `key` is one of k's; NULL when
 * not. Compares against every key, whatever matched, in constant time. */
const char *kumo__apikeys_match(const kumo__apikeys *k, const char *key, size_t len);

/* Finds scheme sc's key among the request's headers (names lower case),
 * query or cookies. 1 and the value in buf (*len bytes; decoded from the
 * query), 0 when absent, -1 when it is there but longer than cap or
 * malformed. */
int kumo__apikey_find(const kumo__sec_scheme *sc, const kumo__header_view *headers, size_t nheaders, kumo__slice query,
                      char *buf, size_t cap, size_t *len);

#endif
