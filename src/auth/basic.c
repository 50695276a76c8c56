/*
 * basic.c: see basic.h. The file is read once per generation (a reload
 * reads it again); the hashes stay in memory, the passwords never do.
 *
 * crypt_r comes from libcrypt (libxcrypt), loaded when the first
 * credentials file is: a process without Basic users does not need it,
 * and a Lambda package without them does not carry it (libxcrypt is built
 * against a newer glibc than the platform's: bundle.c).
 */
#include "auth/basic.h"
#include "base/base64.h"

#include <crypt.h>
#include <dlfcn.h>
#include <bearssl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>

#include "base/digest.h"

#define FILE_MAX (1u << 20)
#define USERS_MAX 10000
#define CACHE_SLOTS 64
#define CACHE_TTL_S 300
#define REFUSED_TTL_S 60 /* a wrong password seen lately is refused without hashing it again */

typedef struct user {
    char *name;
    char *hash;
} user;

typedef struct cached {
    unsigned char digest[32];
    int64_t until; /* monotonic seconds; 0: empty */
} cached;

struct kumo__htpasswd {
    user *users;
    size_t n;
    unsigned char pepper[32];
    pthread_mutex_t lock;
    cached cache[CACHE_SLOTS];
    size_t next;
    cached refused[CACHE_SLOTS]; /* user and password pairs refused lately (their digests) */
    size_t next_refused;
    _Atomic uint64_t hashes; /* crypt_r runs, for tests */
};

static const char *const good_prefixes[] = {"$y$", "$gy$", "$2b$", "$2a$", "$2y$", "$6$", NULL};

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static const char *hash_kind(const char *h)
{
    if (strncmp(h, "$1$", 3) == 0)
        return "MD5-crypt";
    if (strncmp(h, "$apr1$", 6) == 0)
        return "Apache MD5";
    if (strncmp(h, "{SHA}", 5) == 0)
        return "unsalted SHA-1";
    if (strncmp(h, "$5$", 3) == 0)
        return "sha256crypt";
    if (h[0] != '$')
        return "DES-crypt or plain text";
    return "an unknown method";
}

typedef char *crypt_r_fn(const char *phrase, const char *setting, struct crypt_data *data);
static crypt_r_fn *crypt_fn;
static char crypt_err[256];
static pthread_once_t crypt_once = PTHREAD_ONCE_INIT;

static void crypt_load(void)
{
    void *lib = dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
    void *sym = lib ? dlsym(lib, "crypt_r") : NULL;
    if (sym == NULL)
        snprintf(crypt_err, sizeof(crypt_err), "%s", dlerror());
    else
        memcpy(&crypt_fn, &sym, sizeof(sym)); /* ISO C has no cast from void * to a function pointer */
}

int kumo__htpasswd_load(const char *path, kumo__htpasswd **out, kumo__error *err)
{
    *out = NULL;
    pthread_once(&crypt_once, crypt_load);
    if (crypt_fn == NULL) {
        kumo__error_set(err, -ENOENT,
                        "%s: checking its passwords needs libcrypt.so.1 (libxcrypt), which cannot be loaded: %s", path,
                        crypt_err);
        return -ENOENT;
    }
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        kumo__error_set(err, -ENOENT, "%s: cannot read the credentials file: %s", path, strerror(errno));
        return -ENOENT;
    }
    int rc = 0;
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t got;
    int lineno = 0;
    kumo__htpasswd *h = calloc(1, sizeof(*h));
    if (h == NULL || getrandom(h->pepper, sizeof(h->pepper), 0) != (ssize_t)sizeof(h->pepper)) {
        rc = h == NULL ? -ENOMEM : -errno;
        kumo__error_set(err, rc, h == NULL ? "out of memory" : "no random bytes for the users' cache (getrandom)");
        free(h);
        h = NULL;
        goto out;
    }
    pthread_mutex_init(&h->lock, NULL);
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        total += (size_t)got;
        if (total > FILE_MAX) {
            kumo__error_set(err, -EFBIG, "%s: over 1 MiB; a credentials file holds one user:hash a line", path);
            rc = -EFBIG;
            goto out;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line || colon[1] == '\0') {
            kumo__error_set(err, -EINVAL, "%s:%d:1: expected user:hash (a line of htpasswd -B or mkpasswd)", path,
                            lineno);
            rc = -EINVAL;
            goto out;
        }
        *colon = '\0';
        const char *hash = colon + 1;
        int good = 0;
        for (size_t i = 0; good_prefixes[i]; i++)
            good |= strncmp(hash, good_prefixes[i], strlen(good_prefixes[i])) == 0;
        if (!good) {
            kumo__error_set(err, -EINVAL,
                            "%s:%d:%d: user '%s' has a %s hash, which kumo refuses; make a yescrypt, bcrypt or "
                            "sha512crypt one (mkpasswd -m yescrypt, htpasswd -B)",
                            path, lineno, (int)(hash - line) + 1, line, hash_kind(hash));
            rc = -EINVAL;
            goto out;
        }
        for (size_t i = 0; i < h->n; i++)
            if (strcmp(h->users[i].name, line) == 0) {
                kumo__error_set(err, -EINVAL, "%s:%d:1: user '%s' is listed twice; keep one line", path, lineno, line);
                rc = -EINVAL;
                goto out;
            }
        if (h->n == USERS_MAX) {
            kumo__error_set(err, -EFBIG, "%s:%d:1: more than %d users", path, lineno, USERS_MAX);
            rc = -EFBIG;
            goto out;
        }
        user *nu = realloc(h->users, (h->n + 1) * sizeof(*nu));
        if (nu == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        h->users = nu;
        h->users[h->n] = (user){strdup(line), strdup(hash)};
        if (h->users[h->n].name == NULL || h->users[h->n].hash == NULL) {
            free(h->users[h->n].name);
            free(h->users[h->n].hash);
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        h->n++;
    }
    if (h->n == 0) {
        kumo__error_set(err, -EINVAL, "%s: no user:hash line; add one (htpasswd -B -n USER)", path);
        rc = -EINVAL;
    }
out:
    if (line) {
        explicit_bzero(line, cap);
        free(line);
    }
    fclose(f);
    if (rc != 0)
        kumo__htpasswd_free(h);
    else
        *out = h;
    return rc;
}

void kumo__htpasswd_free(kumo__htpasswd *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->users[i].name);
        free(h->users[i].hash);
    }
    free(h->users);
    pthread_mutex_destroy(&h->lock);
    explicit_bzero(h, sizeof(*h));
    free(h);
}

static void cache_digest(const kumo__htpasswd *h, const char *u, size_t ulen, const char *p, size_t plen,
                         unsigned char out[32])
{
    /* BearSSL's SHA-256: Basic users need no libcrypto */
    br_sha256_context c;
    unsigned char sep = 0;
    br_sha256_init(&c);
    br_sha256_update(&c, h->pepper, sizeof(h->pepper));
    br_sha256_update(&c, u, ulen);
    br_sha256_update(&c, &sep, 1);
    br_sha256_update(&c, p, plen);
    br_sha256_out(&c, out);
    explicit_bzero(&c, sizeof(c));
}

typedef struct basic_job {
    kumo__slow_job base; /* first */
    kumo__htpasswd *h;
    unsigned char digest[32];
    char *cred; /* user, NUL, password, NUL */
    size_t ulen, plen;
    int ok, ran;
} basic_job;

static const char basic_kind[] = "http basic";

/* 1 or 0 when the digest is remembered as good or as refused, -1 when
 * only a hash can tell (or d is the all-zero digest of a failure). */
static int remembered(kumo__htpasswd *h, const unsigned char d[32], int64_t now)
{
    static const unsigned char zero[32];
    int hit = 0, refused = 0;
    if (kumo__same_secret(d, zero, 32))
        return -1;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        hit |= h->cache[i].until > now && kumo__same_secret(h->cache[i].digest, d, 32);
        refused |= h->refused[i].until > now && kumo__same_secret(h->refused[i].digest, d, 32);
    }
    pthread_mutex_unlock(&h->lock);
    /* A client retrying with the same wrong password (a stale secret in
     * a script) costs one hash a minute, not one a request. */
    return hit ? 1 : refused ? 0 : -1;
}

/* The slow part: crypt_r, then the verdict remembered. */
static int hash_and_remember(kumo__htpasswd *h, const unsigned char d[32], const char *u, size_t ulen, const char *p,
                             size_t plen)
{
    static const unsigned char zero[32];
    int64_t now = now_s();
    atomic_fetch_add_explicit(&h->hashes, 1, memory_order_relaxed);
    const user *found = NULL;
    for (size_t i = 0; i < h->n; i++)
        if (strlen(h->users[i].name) == ulen && memcmp(h->users[i].name, u, ulen) == 0)
            found = &h->users[i];
    /* an unknown user costs the same hash as a known one */
    const char *setting = found ? found->hash : h->users[0].hash;
    char *pw = malloc(plen + 1);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    int ok = 0;
    if (pw && cd && memchr(p, '\0', plen) == NULL) {
        memcpy(pw, p, plen);
        pw[plen] = '\0';
        const char *r = crypt_fn(pw, setting, cd);
        ok = r && r[0] != '*' && strlen(r) == strlen(setting) && kumo__same_secret(r, setting, strlen(r)) &&
             found != NULL;
        explicit_bzero(pw, plen);
    }
    if (cd) {
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
    }
    free(pw);
    if (!kumo__same_secret(d, zero, 32)) {
        pthread_mutex_lock(&h->lock);
        if (ok) {
            memcpy(h->cache[h->next].digest, d, 32);
            h->cache[h->next].until = now + CACHE_TTL_S;
            h->next = (h->next + 1) % CACHE_SLOTS;
        } else {
            memcpy(h->refused[h->next_refused].digest, d, 32);
            h->refused[h->next_refused].until = now + REFUSED_TTL_S;
            h->next_refused = (h->next_refused + 1) % CACHE_SLOTS;
        }
        pthread_mutex_unlock(&h->lock);
    }
    return ok;
}

int kumo__htpasswd_check(kumo__htpasswd *h, const char *u, size_t ulen, const char *p, size_t plen)
{
    unsigned char d[32];
    cache_digest(h, u, ulen, p, plen, d);
    int known = remembered(h, d, now_s());
    int ok = known >= 0 ? known : hash_and_remember(h, d, u, ulen, p, plen);
    explicit_bzero(d, sizeof(d));
    return ok;
}

static void job_run(kumo__slow_job *sj)
{
    basic_job *j = (basic_job *)sj;
    j->ok = hash_and_remember(j->h, j->digest, j->cred, j->ulen, j->cred + j->ulen + 1, j->plen);
    j->ran = 1;
    explicit_bzero(j->cred, j->ulen + j->plen + 2);
}

static void job_free(kumo__slow_job *sj)
{
    basic_job *j = (basic_job *)sj;
    explicit_bzero(j->cred, j->ulen + j->plen + 2);
    free(j->cred);
    explicit_bzero(j, sizeof(*j));
    free(j);
}

int kumo__htpasswd_lookup(kumo__htpasswd *h, const char *u, size_t ulen, const char *p, size_t plen,
                          const kumo__slow_job *done_job, kumo__slow_job **job)
{
    *job = NULL;
    unsigned char d[32];
    cache_digest(h, u, ulen, p, plen, d);
    const basic_job *done = done_job && done_job->kind == basic_kind ? (const basic_job *)done_job : NULL;
    int known = done && done->ran && done->h == h && kumo__same_secret(done->digest, d, 32) ? done->ok
                                                                                            : remembered(h, d, now_s());
    if (known >= 0) {
        explicit_bzero(d, sizeof(d));
        return known;
    }
    basic_job *j = calloc(1, sizeof(*j));
    char *cred = malloc(ulen + plen + 2);
    if (j == NULL || cred == NULL) {
        free(j);
        free(cred);
        explicit_bzero(d, sizeof(d));
        return 0;
    }
    memcpy(cred, u, ulen);
    cred[ulen] = '\0';
    memcpy(cred + ulen + 1, p, plen);
    cred[ulen + 1 + plen] = '\0';
    *j = (basic_job){.base = {.run = job_run, .free = job_free, .kind = basic_kind},
                     .h = h,
                     .cred = cred,
                     .ulen = ulen,
                     .plen = plen};
    memcpy(j->digest, d, 32);
    explicit_bzero(d, sizeof(d));
    *job = &j->base;
    return -EWOULDBLOCK;
}

int kumo__basic_parse(const char *v, size_t len, char *buf, size_t cap, const char **user, size_t *ulen,
                      const char **password, size_t *plen)
{
    if (len < 6 || strncasecmp(v, "basic ", 6) != 0)
        return 0;
    size_t i = 6;
    while (i < len && v[i] == ' ')
        i++;
    size_t end = len;
    while (end > i && v[end - 1] == ' ')
        end--;
    if ((end - i) * 3 / 4 + 1 >= cap)
        return -1; /* over the ceiling */
    long got = kumo__b64_decode(v + i, end - i, KUMO__B64, (unsigned char *)buf);
    if (got < 0)
        return -1;
    size_t n = (size_t)got;
    buf[n] = '\0';
    char *colon = memchr(buf, ':', n);
    if (colon == NULL || memchr(buf, '\0', n) != NULL)
        return -1;
    *colon = '\0';
    *user = buf;
    *ulen = (size_t)(colon - buf);
    *password = colon + 1;
    *plen = n - *ulen - 1;
    return 1;
}

uint64_t kumo__htpasswd_hashes(kumo__htpasswd *h)
{
    return atomic_load_explicit(&h->hashes, memory_order_relaxed);
}
