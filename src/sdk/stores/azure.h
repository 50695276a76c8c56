/*
 * azure.h: what the three Azure Storage drivers (aztable.c, azblob.c,
 * azqueue.c) share: their URLs, their credentials, and one authorised HTTP
 * exchange over libcurl.
 *
 * Credentials are read when a store opens: a Shared Key (AZURE_STORAGE_KEY,
 * or AccountKey in AZURE_STORAGE_CONNECTION_STRING), else the managed
 * identity of Azure Functions / App Service (IDENTITY_ENDPOINT and
 * IDENTITY_HEADER), whose token is cached per process until shortly before
 * it expires. A kumo__az is one easy handle (one kept-alive connection) and
 * is not thread safe: each driver guards it with its own mutex. Keys and
 * tokens are never logged nor put into a message: messages pass through a
 * scrub that blanks them wherever a service echoed them.
 *
 * The generic pieces (the response type, its headers, base64, XML text,
 * percent-encoding, the clock) are aws.h's and are used as they are.
 */
#ifndef KUMO_STORES_AZURE_H
#define KUMO_STORES_AZURE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sdk/stores/aws.h"

/* `SCHEME://ACCOUNT/RESOURCE[/PATH][?endpoint=URL&create=false&max_receives=N]` */
typedef struct kumo__az_url {
    char *account;         /* the storage account (3-24 lower-case letters and digits) */
    char *resource;        /* the table, container or queue */
    char *path;            /* what follows "RESOURCE/" ("" when none): the blob prefix */
    char *endpoint;        /* endpoint= without a trailing '/', or NULL */
    int create;            /* 0 when create=false */
    unsigned max_receives; /* max_receives= (queues), default 5 */
} kumo__az_url;

/* Parses `url` whose scheme must be `scheme` ("aztable", "azblob",
 * "azqueue"); on failure a KUMO_E* code and a message in err. The caller
 * frees the fields with kumo__az_url_free. */
int kumo__az_url_parse(const char *url, const char *scheme, kumo__az_url *out, kumo__error *err);
void kumo__az_url_free(kumo__az_url *u);

typedef struct kumo__az kumo__az;

/* A client of `service` ("table", "blob", "queue") for the URL's account
 * and endpoint, with the environment's credentials. `msg` (size msglen, a
 * store handle's error field) receives every later failure's message. */
int kumo__az_new(const char *service, const kumo__az_url *u, char *msg, size_t msglen, kumo__az **out,
                 kumo__error *err);
void kumo__az_free(kumo__az *c);
/* Where requests go: http(s)://HOST[:PORT][/ACCOUNT] (path style for an
 * endpoint= such as Azurite's), no trailing '/'. */
const char *kumo__az_base(const kumo__az *c);
/* The code of the last error ("BlobNotFound", "curl" for a transport
 * failure), "" after a success. */
const char *kumo__az_code(const kumo__az *c);

/* The one authorised exchange: `target` is the path and query after the
 * base ("/mytable()?$filter=..."), already percent-encoded. `headers` are
 * "Name: value" lines (NULL-terminated, may be NULL); `body` (len bytes) is
 * sent when non-NULL. x-ms-date, x-ms-version and Authorization are added
 * here. Returns 0 for a 2xx answer, else a KUMO_E* code with
 * "SERVICE: Code: message (HTTP n)" or "SERVICE at BASE: transport error"
 * in the client's msg and the code in kumo__az_code (res is still filled
 * when the service answered). The exchange is bounded: 2 s to connect, 10 s
 * in all, max_body bytes of answer. */
int kumo__az_send(kumo__az *c, const char *method, const char *target, const char *const *headers, const void *body,
                  size_t len, size_t max_body, kumo__cloud_res *res);

/* An Azure Storage error code → KUMO_E* (status is the HTTP status). */
int kumo__az_map_error(const char *code, long status);

/* The Shared Key signature of a string to sign: base64(HMAC-SHA256(key,
 * s)), key given base64-encoded, into out (at least 45 bytes). 0, or -1
 * for a key that is not base64. */
int kumo__az_sign(const char *key_b64, const char *s, size_t len, char out[64]);

/* The string a Shared Key request signs, for `service` ("table": the
 * Table service's own form; else Blob's and Queue's): method, the header
 * lines, the canonicalized resource from account and the encoded target
 * (path, query). malloc'd; NULL when out of memory. Exposed for the tests. */
char *kumo__az_string_to_sign(const char *service, const char *account, const char *method, const char *path_prefix,
                              const char *target, const char *const *headers, size_t content_length);

/* RFC 1123 date of now ("Sun, 06 Dec 2026 01:46:33 GMT") into out. */
void kumo__az_date(char out[40]);

/* Reads AZURE_STORAGE_CONNECTION_STRING's field `name` (AccountName,
 * AccountKey, BlobEndpoint...) from `cs` into out: 1 found, 0 absent,
 * -1 too long for out. */
int kumo__az_connstr_get(const char *cs, const char *name, char *out, size_t size);

/* Appends s (len bytes) to buf percent-encoded as JavaScript's
 * encodeURIComponent does (every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ),
 * and '/' when keep_slash): the form Azure's own clients put in a path.
 * Returns the bytes written, or 0 when it would not fit (with the NUL). */
size_t kumo__az_uri_encode(const char *s, size_t len, int keep_slash, char *buf, size_t size);

/* aztable.c's RowKey encoding of a key (len bytes, any but none of them
 * special): bytes a RowKey may not hold, and a few neighbours, become a
 * lead character and two hex digits, order-preserving; into out (cap
 * bytes, NUL included): the length, or 0 when it does not fit. */
size_t kumo__aztable_key_encode(const char *k, size_t len, char *out, size_t cap);

/* The length of the line azqueue.c puts before a body ("k1 SENT_MS
 * TRACE\n"), 0 when `data` does not start with one: for kumo-host, which
 * gets a queue message as the Azure Functions host decoded it. */
size_t kumo__azqueue_header(const char *data, size_t len);

/* Only tests: forget the cached managed identity token. */
void kumo__az_token_reset(void);

#endif
