/*
 * egress.h: the destinations a worker whose stores live on servers may
 * connect to (docs/sandbox.md, "Egress rules"), and the test of one
 * address against them.
 *
 * The fork server builds the rules once, when it starts, from the store
 * URLs its workers are given (KUMO_STORE_<NAME>=URL): each URL names a
 * server (host and port, the port defaulted per scheme as the drivers
 * default it) or a unix socket path. It resolves the host names itself,
 * on the host's resolver, so that a worker needs no DNS: the worker gets
 * the resolved names as /etc/hosts lines (kumo__egress_rules.hosts) in
 * its own mount namespace. A worker's connect() is then allowed when its
 * address is one of those resolved addresses with the store's port, or
 * the store's unix socket path, and refused otherwise; the supervisor
 * that asks is src/worker/egress_supervisor.c.
 *
 * Plain data with fixed ceilings (a store URL names at most a few
 * servers), so that a forked worker inherits it with no allocation.
 */
#ifndef KUMO_SANDBOX_EGRESS_H
#define KUMO_SANDBOX_EGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"

#define KUMO__EGRESS_MAX_DESTS 64
#define KUMO__EGRESS_MAX_ADDRS 256
#define KUMO__EGRESS_HOSTS_MAX 16384

/* One server (host, port) or unix socket (path) a store's URL names. */
typedef struct kumo__egress_dest {
    char store[64]; /* the store's name, for messages */
    char host[256]; /* as written (an IPv6 literal without brackets); "" for a unix socket */
    uint16_t port;
    char path[108]; /* a unix socket's path; "" for host:port */
} kumo__egress_dest;

/* One resolved address a worker may connect to. */
typedef struct kumo__egress_addr {
    sa_family_t family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    uint16_t port; /* host order */
} kumo__egress_addr;

typedef struct kumo__egress_rules {
    kumo__egress_dest dests[KUMO__EGRESS_MAX_DESTS];
    size_t ndests;
    kumo__egress_addr addrs[KUMO__EGRESS_MAX_ADDRS];
    size_t naddrs;
    /* "ADDRESS NAME\n" for every name resolved (kumo__egress_rules_resolve),
     * appended to the worker's /etc/hosts. */
    char hosts[KUMO__EGRESS_HOSTS_MAX];
    size_t hosts_len;
} kumo__egress_rules;

/* Adds the destinations of store `store`'s URL: redis://, postgres:// and
 * postgresql:// (host=, hostaddr=, port= and a host that is a directory
 * mean what libpq makes of them; no host: the unix socket
 * /var/run/postgresql/.s.PGSQL.PORT), dynamodb://, s3://, sqs://, sns://
 * (the endpoint= URL, else the AWS endpoint of the region= or of
 * AWS_REGION / AWS_DEFAULT_REGION from `region_env`, may be NULL). sqlite:
 * and file: name none. 0, or -EINVAL with err naming the URL's problem
 * (the store's driver will refuse it too), or -ENOSPC past the ceilings. */
int kumo__egress_rules_add_url(kumo__egress_rules *r, const char *store, const char *url, const char *region_env,
                               kumo__error *err);

/* Resolves every destination's host (numeric hosts as they are) into
 * r->addrs and r->hosts. Names that do not resolve are described in
 * `unresolved` ("redis.internal (store 'cache'): Name or service not
 * known; ..."; may be NULL), and their store will fail to connect. */
void kumo__egress_rules_resolve(kumo__egress_rules *r, char *unresolved, size_t len);

/* Whether a worker may connect to `sa` (`len` bytes as connect() was
 * given them): 1 or 0. AF_UNSPEC (dissolving a connection) and abstract
 * unix names (scoped to the worker's own, empty, net namespace) are
 * allowed; an IPv4-mapped IPv6 address counts as its IPv4 address. */
int kumo__egress_allows(const kumo__egress_rules *r, const struct sockaddr *sa, socklen_t len);

/* "127.0.0.1:6380", "[::1]:5432", "unix:/run/x.sock" for messages. */
void kumo__egress_describe(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen);

#endif
