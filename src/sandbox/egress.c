/*
 * egress.c: the egress rules of a worker whose stores live on servers
 * (egress.h): the destinations each store URL names, their resolution by
 * the fork server, and the test of a worker's connect() address. The URL
 * reading here only finds the server; the drivers (src/sdk/stores) parse
 * the rest and refuse what is wrong, so a URL this file cannot read adds
 * nothing and its store fails to open with the driver's own message.
 */
#include "sandbox/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define PG_SOCKET_DIR "/var/run/postgresql" /* Debian's libpq: DEFAULT_PGSOCKET_DIR */

/* ---- reading URLs ------------------------------------------------------- */

/* %-decodes `n` bytes of `s` into out; -1 when it does not fit or is bad. */
static int decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || sscanf(s + i + 1, "%2x", &v) != 1)
                return -1;
            c = (char)v;
            i += 2;
        }
        if (c == '\0' || o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int add_dest(kumo__egress_rules *r, const char *store, const char *host, uint16_t port, const char *path,
                    kumo__error *err)
{
    for (size_t i = 0; i < r->ndests; i++) {
        const kumo__egress_dest *d = &r->dests[i];
        if (d->port == port && strcmp(d->host, host) == 0 && strcmp(d->path, path) == 0)
            return 0;
    }
    if (r->ndests >= KUMO__EGRESS_MAX_DESTS) {
        kumo__error_set(err, -ENOSPC, "store '%s': more than %d servers in the stores' URLs", store,
                        KUMO__EGRESS_MAX_DESTS);
        return -ENOSPC;
    }
    kumo__egress_dest *d = &r->dests[r->ndests];
    memset(d, 0, sizeof(*d));
    if (strlen(host) >= sizeof(d->host) || strlen(path) >= sizeof(d->path)) {
        kumo__error_set(err, -EINVAL, "store '%s': host or socket path too long", store);
        return -EINVAL;
    }
    snprintf(d->store, sizeof(d->store), "%s", store);
    snprintf(d->host, sizeof(d->host), "%s", host);
    snprintf(d->path, sizeof(d->path), "%s", path);
    d->port = port;
    r->ndests++;
    return 0;
}

/* One "host[:port]" or "[v6]:port" of `n` bytes (after any userinfo). A
 * host starting with '/' (libpq: a directory) is a unix socket
 * DIR/.s.PGSQL.PORT. */
static int add_hostport(kumo__egress_rules *r, const char *store, const char *s, size_t n, uint16_t defport, int pg,
                        const char *url, kumo__error *err)
{
    char host[256];
    const char *hs = s, *colon = NULL;
    size_t hn;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            goto bad;
        hs = s + 1;
        hn = (size_t)(close - hs);
        if ((size_t)(close + 1 - s) < n) {
            if (close[1] != ':')
                goto bad;
            colon = close + 1;
        }
    } else {
        colon = memchr(s, ':', n);
        hn = colon ? (size_t)(colon - s) : n;
    }
    uint16_t port = defport;
    if (colon && parse_port(colon + 1, n - (size_t)(colon + 1 - s), &port) != 0)
        goto bad;
    if (decode(hs, hn, host, sizeof(host)) != 0)
        goto bad;
    if (pg && (host[0] == '/' || host[0] == '\0')) {
        char path[108];
        int w = snprintf(path, sizeof(path), "%s/.s.PGSQL.%u", host[0] ? host : PG_SOCKET_DIR, (unsigned)port);
        if (w < 0 || (size_t)w >= sizeof(path))
            goto bad;
        return add_dest(r, store, "", port, path, err);
    }
    if (host[0] == '\0')
        goto bad;
    return add_dest(r, store, host, port, "", err);
bad:
    kumo__error_set(err, -EINVAL, "store '%s': cannot find the server in its URL '%.*s...'", store,
                    (int)strcspn(url, "@"), url);
    return -EINVAL;
}

/* The value of query parameter `name` in `q` (after '?'), its length in *n. */
static const char *query_param(const char *q, const char *name, size_t *n)
{
    size_t len = strlen(name);
    for (const char *p = q; p && *p;) {
        size_t m = strcspn(p, "&#");
        if (m > len && strncmp(p, name, len) == 0 && p[len] == '=') {
            *n = m - len - 1;
            return p + len + 1;
        }
        p += m;
        if (*p != '&')
            break;
        p++;
    }
    return NULL;
}

static int add_pg(kumo__egress_rules *r, const char *store, const char *url, kumo__error *err)
{
    const char *p = strstr(url, "://") + 3;
    const char *q = strchr(p, '?');
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *c = p; c < end; c++)
        if (*c == '@')
            at = c;
    if (at)
        p = at + 1;
    size_t n;
    uint16_t port = 5432;
    const char *v = q ? query_param(q + 1, "port", &n) : NULL;
    if (v && parse_port(v, n, &port) != 0) {
        kumo__error_set(err, -EINVAL, "store '%s': its URL's port= is not a port", store);
        return -EINVAL;
    }
    /* hostaddr= is where libpq connects when given; host= overrides the
     * authority. Each may be a comma-separated list. */
    const char *list = q ? query_param(q + 1, "hostaddr", &n) : NULL;
    if (list == NULL && q)
        list = query_param(q + 1, "host", &n);
    int from_query = list != NULL;
    if (list == NULL) {
        list = p;
        n = (size_t)(end - p);
    }
    if (n == 0)
        return add_hostport(r, store, "", 0, port, 1, url, err);
    for (const char *c = list; c < list + n;) {
        size_t m = (size_t)(list + n - c);
        const char *comma = memchr(c, ',', m);
        size_t one = comma ? (size_t)(comma - c) : m;
        int rc;
        if (from_query) {
            /* a bare host (or directory): the port is port='s */
            char host[300];
            if (one + 3 >= sizeof(host))
                return add_hostport(r, store, "[", 1, port, 1, url, err);
            int v6 = memchr(c, ':', one) != NULL;
            snprintf(host, sizeof(host), "%s%.*s%s", v6 ? "[" : "", (int)one, c, v6 ? "]" : "");
            rc = add_hostport(r, store, host, strlen(host), port, 1, url, err);
        } else {
            rc = add_hostport(r, store, c, one, port, 1, url, err);
        }
        if (rc != 0)
            return rc;
        c += one + (comma != NULL);
    }
    return 0;
}

/* An http(s):// URL's server: `n` bytes of `s`. */
static int add_http(kumo__egress_rules *r, const char *store, const char *s, size_t n, const char *url,
                    kumo__error *err)
{
    uint16_t port;
    size_t skip;
    if (n > 8 && strncmp(s, "https://", 8) == 0) {
        port = 443;
        skip = 8;
    } else if (n > 7 && strncmp(s, "http://", 7) == 0) {
        port = 80;
        skip = 7;
    } else {
        kumo__error_set(err, -EINVAL, "store '%s': its endpoint= must start with http:// or https://", store);
        return -EINVAL;
    }
    s += skip;
    n -= skip;
    size_t m = 0;
    while (m < n && s[m] != '/' && s[m] != '?' && s[m] != '#')
        m++;
    const char *at = memchr(s, '@', m);
    if (at) {
        m -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    return add_hostport(r, store, s, m, port, 0, url, err);
}

static int add_aws(kumo__egress_rules *r, const char *store, const char *scheme, const char *url,
                   const char *region_env, kumo__error *err)
{
    const char *p = strstr(url, "://") + 3;
    const char *q = strchr(p, '?');
    size_t n;
    const char *endpoint = q ? query_param(q + 1, "endpoint", &n) : NULL;
    if (endpoint) {
        char e[512];
        if (decode(endpoint, n, e, sizeof(e)) != 0) {
            kumo__error_set(err, -EINVAL, "store '%s': its endpoint= is not a URL", store);
            return -EINVAL;
        }
        return add_http(r, store, e, strlen(e), url, err);
    }
    char region[64], host[320];
    const char *rv = q ? query_param(q + 1, "region", &n) : NULL;
    if (rv == NULL) {
        rv = region_env && *region_env ? region_env : "us-east-1";
        n = strlen(rv);
    }
    if (n == 0 || n >= sizeof(region) || decode(rv, n, region, sizeof(region)) != 0) {
        kumo__error_set(err, -EINVAL, "store '%s': its region is not a region name", store);
        return -EINVAL;
    }
    int rc;
    if (strcmp(scheme, "s3") == 0) {
        size_t bn = strcspn(p, "/?#");
        char bucket[256];
        if (bn == 0 || decode(p, bn, bucket, sizeof(bucket)) != 0) {
            kumo__error_set(err, -EINVAL, "store '%s': its URL names no bucket", store);
            return -EINVAL;
        }
        snprintf(host, sizeof(host), "%s.s3.%s.amazonaws.com", bucket, region);
        if ((rc = add_dest(r, store, host, 443, "", err)) != 0)
            return rc;
        snprintf(host, sizeof(host), "s3.%s.amazonaws.com", region);
        return add_dest(r, store, host, 443, "", err);
    }
    snprintf(host, sizeof(host), "%s.%s.amazonaws.com", scheme, region);
    if ((rc = add_dest(r, store, host, 443, "", err)) != 0)
        return rc;
    if (strcmp(scheme, "sns") == 0) { /* an SNS topic's subscribed queues (sns.c) */
        snprintf(host, sizeof(host), "sqs.%s.amazonaws.com", region);
        return add_dest(r, store, host, 443, "", err);
    }
    return 0;
}

/* Google Cloud (firestore://, pubsub://, gs://; src/sdk/stores/gcp.c): the
 * endpoint= URL's server, else the emulator variable's (FIRESTORE_EMULATOR_HOST,
 * PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST), else the service's
 * googleapis.com host and oauth2.googleapis.com, where a service-account key
 * gets its tokens. The metadata server stays out of reach, as on AWS. */
static int add_gcp(kumo__egress_rules *r, const char *store, const char *scheme, const char *url, kumo__error *err)
{
    const char *p = strstr(url, "://") + 3;
    const char *q = strchr(p, '?');
    size_t n;
    const char *endpoint = q ? query_param(q + 1, "endpoint", &n) : NULL;
    int fs = strcmp(scheme, "firestore") == 0, ps = strcmp(scheme, "pubsub") == 0;
    if (endpoint) {
        char e[512];
        if (decode(endpoint, n, e, sizeof(e)) != 0) {
            kumo__error_set(err, -EINVAL, "store '%s': its endpoint= is not a URL", store);
            return -EINVAL;
        }
        return add_http(r, store, e, strlen(e), url, err);
    }
    const char *emu = getenv(fs ? "FIRESTORE_EMULATOR_HOST" : ps ? "PUBSUB_EMULATOR_HOST" : "STORAGE_EMULATOR_HOST");
    if (emu && *emu) {
        if (strncmp(emu, "http://", 7) == 0 || strncmp(emu, "https://", 8) == 0)
            return add_http(r, store, emu, strlen(emu), url, err);
        return add_hostport(r, store, emu, strcspn(emu, "/"), 80, 0, url, err);
    }
    int rc = add_dest(r, store,
                      fs   ? "firestore.googleapis.com"
                      : ps ? "pubsub.googleapis.com"
                           : "storage.googleapis.com",
                      443, "", err);
    return rc ? rc : add_dest(r, store, "oauth2.googleapis.com", 443, "", err);
}

/* Azure Storage (sdk/stores/azure.c): the endpoint= server, else
 * ACCOUNT.SERVICE.core.windows.net:443. */
static int add_azure(kumo__egress_rules *r, const char *store, const char *service, const char *url, kumo__error *err)
{
    const char *p = strstr(url, "://") + 3;
    const char *q = strchr(p, '?');
    size_t n;
    const char *endpoint = q ? query_param(q + 1, "endpoint", &n) : NULL;
    char e[512], host[320];
    if (endpoint) {
        if (decode(endpoint, n, e, sizeof(e)) != 0) {
            kumo__error_set(err, -EINVAL, "store '%s': its endpoint= is not a URL", store);
            return -EINVAL;
        }
        return add_http(r, store, e, strlen(e), url, err);
    }
    size_t an = strcspn(p, "/?#");
    if (an == 0 || an > 24 || decode(p, an, e, sizeof(e)) != 0) {
        kumo__error_set(err, -EINVAL, "store '%s': its URL names no storage account", store);
        return -EINVAL;
    }
    snprintf(host, sizeof(host), "%s.%s.core.windows.net", e, service);
    return add_dest(r, store, host, 443, "", err);
}

int kumo__egress_rules_add_url(kumo__egress_rules *r, const char *store, const char *url, const char *region_env,
                               kumo__error *err)
{
    const char *sep = strstr(url, "://");
    char scheme[16];
    size_t sn = sep ? (size_t)(sep - url) : strcspn(url, ":");
    if (sn == 0 || sn >= sizeof(scheme)) {
        kumo__error_set(err, -EINVAL, "store '%s': its URL has no scheme", store);
        return -EINVAL;
    }
    memcpy(scheme, url, sn);
    scheme[sn] = '\0';
    if (strcmp(scheme, "sqlite") == 0 || strcmp(scheme, "file") == 0)
        return 0;
    if (sep == NULL) {
        kumo__error_set(err, -EINVAL, "store '%s': expected %s://...", store, scheme);
        return -EINVAL;
    }
    if (strcmp(scheme, "redis") == 0) {
        const char *p = sep + 3;
        const char *end = p + strcspn(p, "/?#");
        const char *at = NULL;
        for (const char *c = p; c < end; c++)
            if (*c == '@')
                at = c;
        if (at)
            p = at + 1;
        return add_hostport(r, store, p, (size_t)(end - p), 6379, 0, url, err);
    }
    if (strcmp(scheme, "postgres") == 0 || strcmp(scheme, "postgresql") == 0)
        return add_pg(r, store, url, err);
    if (strcmp(scheme, "dynamodb") == 0 || strcmp(scheme, "s3") == 0 || strcmp(scheme, "sqs") == 0 ||
        strcmp(scheme, "sns") == 0)
        return add_aws(r, store, scheme, url, region_env, err);
    if (strcmp(scheme, "firestore") == 0 || strcmp(scheme, "pubsub") == 0 || strcmp(scheme, "gs") == 0)
        return add_gcp(r, store, scheme, url, err);
    if (strcmp(scheme, "aztable") == 0 || strcmp(scheme, "azblob") == 0 || strcmp(scheme, "azqueue") == 0)
        return add_azure(r, store, scheme + 2, url, err);
    if (strcmp(scheme, "azservicebus") == 0)
        return 0; /* refused by its driver, with what to use instead */
    kumo__error_set(err, -EINVAL, "store '%s': kumo knows no store driver for %s://", store, scheme);
    return -EINVAL;
}

/* ---- resolving ---------------------------------------------------------- */

static void add_addr(kumo__egress_rules *r, sa_family_t family, const void *addr, uint16_t port)
{
    size_t alen = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < r->naddrs; i++)
        if (r->addrs[i].family == family && r->addrs[i].port == port && memcmp(r->addrs[i].addr, addr, alen) == 0)
            return;
    if (r->naddrs >= KUMO__EGRESS_MAX_ADDRS)
        return; /* past the ceiling the store's later addresses are refused */
    kumo__egress_addr *a = &r->addrs[r->naddrs++];
    memset(a, 0, sizeof(*a));
    a->family = family;
    memcpy(a->addr, addr, alen);
    a->port = port;
}

static void add_hosts_line(kumo__egress_rules *r, sa_family_t family, const void *addr, const char *name)
{
    char text[INET6_ADDRSTRLEN], line[INET6_ADDRSTRLEN + 300];
    if (inet_ntop(family, addr, text, sizeof(text)) == NULL)
        return;
    int n = snprintf(line, sizeof(line), "%s %s\n", text, name);
    if (n < 0 || (size_t)n >= sizeof(line) || r->hosts_len + (size_t)n >= sizeof(r->hosts))
        return;
    if (strstr(r->hosts, line) != NULL)
        return;
    memcpy(r->hosts + r->hosts_len, line, (size_t)n + 1);
    r->hosts_len += (size_t)n;
}

void kumo__egress_rules_resolve(kumo__egress_rules *r, char *unresolved, size_t len)
{
    if (unresolved && len)
        unresolved[0] = '\0';
    for (size_t i = 0; i < r->ndests; i++) {
        const kumo__egress_dest *d = &r->dests[i];
        unsigned char buf[16];
        if (d->host[0] == '\0')
            continue;
        if (inet_pton(AF_INET, d->host, buf) == 1) {
            add_addr(r, AF_INET, buf, d->port);
            continue;
        }
        if (inet_pton(AF_INET6, d->host, buf) == 1) {
            add_addr(r, AF_INET6, buf, d->port);
            continue;
        }
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(d->host, NULL, &hints, &res);
        if (rc != 0) {
            if (unresolved && len) {
                size_t at = strlen(unresolved);
                snprintf(unresolved + at, len - at, "%s%s (store '%s'): %s", at ? "; " : "", d->host, d->store,
                         gai_strerror(rc));
            }
            continue;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            const void *a = NULL;
            if (ai->ai_family == AF_INET)
                a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
            else if (ai->ai_family == AF_INET6)
                a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            if (a == NULL)
                continue;
            add_addr(r, (sa_family_t)ai->ai_family, a, d->port);
            add_hosts_line(r, (sa_family_t)ai->ai_family, a, d->host);
        }
        freeaddrinfo(res);
    }
}

/* ---- matching ----------------------------------------------------------- */

static int allows_inet(const kumo__egress_rules *r, sa_family_t family, const unsigned char *addr, uint16_t port)
{
    size_t alen = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < r->naddrs; i++)
        if (r->addrs[i].family == family && r->addrs[i].port == port && memcmp(r->addrs[i].addr, addr, alen) == 0)
            return 1;
    return 0;
}

int kumo__egress_allows(const kumo__egress_rules *r, const struct sockaddr *sa, socklen_t len)
{
    if (len < (socklen_t)sizeof(sa_family_t))
        return 0;
    switch (sa->sa_family) {
    case AF_UNSPEC: return 1;
    case AF_INET: {
        if (len < (socklen_t)sizeof(struct sockaddr_in))
            return 0;
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return allows_inet(r, AF_INET, (const unsigned char *)&in->sin_addr, ntohs(in->sin_port));
    }
    case AF_INET6: {
        if (len < (socklen_t)sizeof(struct sockaddr_in6))
            return 0;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *a = in6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return allows_inet(r, AF_INET, a + 12, ntohs(in6->sin6_port));
        return allows_inet(r, AF_INET6, a, ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = (size_t)len - offsetof(struct sockaddr_un, sun_path);
        if (len <= (socklen_t)offsetof(struct sockaddr_un, sun_path))
            return 0; /* unnamed */
        if (un->sun_path[0] == '\0')
            return 1; /* abstract: the worker's own net namespace */
        if (n > sizeof(un->sun_path))
            return 0;
        size_t plen = strnlen(un->sun_path, n);
        for (size_t i = 0; i < r->ndests; i++)
            if (r->dests[i].path[0] && strlen(r->dests[i].path) == plen &&
                memcmp(r->dests[i].path, un->sun_path, plen) == 0)
                return 1;
        return 0;
    }
    default: return 0;
    }
}

void kumo__egress_describe(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (len >= (socklen_t)sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
        snprintf(out, outlen, "%s:%u", text, (unsigned)ntohs(in->sin_port));
    } else if (len >= (socklen_t)sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
        snprintf(out, outlen, "[%s]:%u", text, (unsigned)ntohs(in6->sin6_port));
    } else if (len > (socklen_t)offsetof(struct sockaddr_un, sun_path) && sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = (size_t)len - offsetof(struct sockaddr_un, sun_path);
        if (n > sizeof(un->sun_path))
            n = sizeof(un->sun_path);
        char path[sizeof(un->sun_path) + 1];
        size_t k = 0;
        for (size_t i = un->sun_path[0] == '\0'; i < n && un->sun_path[i]; i++)
            path[k++] = un->sun_path[i] >= ' ' && un->sun_path[i] < 0x7f ? un->sun_path[i] : '?';
        path[k] = '\0';
        snprintf(out, outlen, "unix:%s%s", un->sun_path[0] == '\0' ? "@" : "", path);
    } else {
        snprintf(out, outlen, "address family %d", len >= (socklen_t)sizeof(sa_family_t) ? sa->sa_family : -1);
    }
}
