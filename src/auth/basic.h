/*
 * basic.h: HTTP Basic authentication (RFC 7617) against a credentials
 * file (basic.c): one `user:hash` a line, the hash in crypt(3)'s modular
 * format from libcrypt: yescrypt ($y$, $gy$), bcrypt ($2b$, $2a$, $2y$) or
 * sha512crypt ($6$). DES, MD5 ($1$, $apr1$) and other weak or unknown
 * hashes are refused when the file is read, naming file:line. Passwords
 * are checked with crypt_r; a successful check is remembered for a while
 * (a digest of user, password and a per-process secret, never the
 * password) so a client that sends the same credentials on every request
 * does not cost a slow hash each time.
 */
#ifndef KUMO_AUTH_BASIC_H
#define KUMO_AUTH_BASIC_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/slowjob.h"

typedef struct kumo__htpasswd kumo__htpasswd;

/* Reads the credentials file at path (at most 1 MiB, 10000 users). */
int kumo__htpasswd_load(const char *path, kumo__htpasswd **out, kumo__error *err);
void kumo__htpasswd_free(kumo__htpasswd *h);
/* 1 when `user` is in the file and `password` is theirs; 0 when not. An
 * unknown user costs a hash too. Thread-safe. */
int kumo__htpasswd_check(kumo__htpasswd *h, const char *user, size_t ulen, const char *password, size_t plen);
/* A check only a hash can answer, taken off the caller's thread: an
 * event loop asks with kumo__htpasswd_lookup, which answers from what is
 * remembered or hands back a job holding a copy of the user and password
 * (cleansed when freed); another thread runs it (the job's run:
 * the slow hash, remembered as kumo__htpasswd_check remembers it), and the
 * loop asks again with the job done (its verdict answers even if the
 * memory forgot it meanwhile). The job refers to h: h must outlive it. */
/* 1 or 0 as kumo__htpasswd_check when remembered, or when `done` (a job
 * already run, or NULL; another kind of job is ignored) is about the same
 * user and password; else -EWOULDBLOCK and *job (base/slowjob.h: its run
 * hashes and remembers; NULL when out of memory: then 0, refused). */
int kumo__htpasswd_lookup(kumo__htpasswd *h, const char *user, size_t ulen, const char *password, size_t plen,
                          const kumo__slow_job *done, kumo__slow_job **job);
/* How many times a password was hashed (crypt_r) so far: a successful
 * check is remembered 5 minutes, a refused user and password 1 minute,
 * and neither is hashed again meanwhile. For tests. */
uint64_t kumo__htpasswd_hashes(kumo__htpasswd *h);

/* Reads an Authorization value "Basic <base64 of user:password>" (the
 * scheme case-insensitive): 1 and the two into buf (cap bytes, both
 * NUL-terminated, *user and *password point into it); 0 when the value is
 * not Basic; -1 when it is Basic but malformed or longer than cap. */
int kumo__basic_parse(const char *value, size_t len, char *buf, size_t cap, const char **user, size_t *ulen,
                      const char **password, size_t *plen);

#endif
