/*
 * sigv4.h: AWS Signature Version 4, the header form (an Authorization
 * header, not a presigned URL), written from AWS's description of the
 * algorithm, with BearSSL's SHA-256 and HMAC. It signs one request as it
 * will go on the wire and hands back the header lines to add to it; it
 * sends nothing and keeps nothing, so any HTTP client can carry the result.
 *
 * What it signs: the method; the canonical URI (below); the canonical query
 * (each name and value percent-decoded, then encoded again leaving only
 * A-Z a-z 0-9 - _ . ~ as they are, a name without '=' given an empty
 * value, sorted by name then value); the headers (below); the payload's
 * SHA-256. The scope is DATE/REGION/SERVICE/aws4_request.
 *
 * The canonical URI is the URL's path ("/" when it has none). For "s3" it
 * is the path exactly as sent: S3 signs its keys as they are written. For
 * every other service each segment is percent-encoded once more ("%20"
 * signs as "%2520", '/' kept), as AWS specifies; dot segments ("." and
 * "..") and repeated '/' are NOT removed, so a caller must not send a path
 * that has them (AWS would sign its normalised form and refuse ours).
 *
 * The signed headers: host (the URL's, with ":port" only when the URL
 * names a port that is not its scheme's default), x-amz-date, the session
 * token's and S3's content hash's when they are added, and every line of
 * `headers` except user-agent, expect, content-length, transfer-encoding,
 * connection and authorization, which proxies and clients may change on
 * the way. Each is signed as its lower-cased name and its value trimmed,
 * inner runs of spaces and tabs made one space; a name given twice is
 * signed once, its values joined by ',' in the order given. A line is
 * signed as it is: with libcurl, whose "Name:" line removes a header
 * instead of sending it empty, pass only lines that are really sent.
 */
#ifndef KUMO_STORES_SIGV4_H
#define KUMO_STORES_SIGV4_H

#include <stddef.h>
#include <time.h>

/* One request to sign; every string is borrowed for the call only. */
typedef struct kumo__sigv4_req {
    const char *method; /* "GET", "POST", ... */
    /* As it is sent: http[s]://host[:port][/path][?query], the path and the
     * query already percent-encoded. No user info, no fragment; an IPv6
     * host in brackets. */
    const char *url;
    /* NULL-terminated "Name: value" lines that will be sent (may be NULL).
     * Host and X-Amz-Date are the signer's: a line naming either is
     * refused, and so is X-Amz-Security-Token when `token` is given and
     * X-Amz-Content-Sha256 for "s3", which the signer adds then. */
    const char *const *headers;
    const void *body; /* the payload (NULL or len 0: empty), hashed ... */
    size_t len;
    /* ... unless this is set (non-NULL, non-empty): then it is signed as
     * the payload's hash as is, e.g. "UNSIGNED-PAYLOAD" for a body
     * streamed from a file. */
    const char *payload_hash;
    const char *region, *service; /* "us-east-1", "dynamodb", "s3", ... */
    const char *key, *secret;     /* the access key id and its secret */
    const char *token;            /* the session token, or NULL or "" */
    time_t now;                   /* the signing time, UTC seconds */
} kumo__sigv4_req;

/* The lines to add to the request, NULL-terminated, each malloc'd and
 * owned by the struct (kumo__sigv4_out_free), in this order:
 *   "Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
 *    SignedHeaders=..., Signature=..." (one line),
 *   "X-Amz-Date: YYYYMMDDTHHMMSSZ",
 *   "X-Amz-Security-Token: TOKEN" when there is a token,
 *   "X-Amz-Content-Sha256: HASH" when the service is "s3" (S3 requires it). */
typedef struct kumo__sigv4_out {
    char *lines[5];
} kumo__sigv4_out;

/* Signs `r` into `out`. Returns 0; or KUMO_EINVAL (a NULL or malformed
 * field: a URL that is not as above, a bad percent-escape in its path or
 * query, a header line that is not "Name: value" or has a CR, LF or other
 * control character, a header the signer owns, a time past year 9999) with
 * the reason in msg (msglen bytes; msg may be NULL), which never holds the
 * secret, the key id or the token; or KUMO_ENOMEM. On failure every line of
 * `out` is NULL. The signing keys, derived from the secret, are wiped
 * before it returns. */
int kumo__sigv4_sign(const kumo__sigv4_req *r, kumo__sigv4_out *out, char *msg, size_t msglen);

/* Frees every line and sets it to NULL; an all-NULL `out` (or NULL) is
 * fine. The lines hold no secret (a signature is good for this one request
 * only, for minutes), so they are not wiped. */
void kumo__sigv4_out_free(kumo__sigv4_out *out);

#endif
