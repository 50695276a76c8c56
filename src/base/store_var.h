/*
 * store_var.h: the one rule that turns a store's name into the environment
 * variable holding its URL, KUMO_STORE_<NAME>. The gateway, kumo-host and
 * the deploy targets set the variable; the worker's SDK reads it: both
 * sides call this function, so they cannot disagree about a name.
 */
#ifndef KUMO_BASE_STORE_VAR_H
#define KUMO_BASE_STORE_VAR_H

#include <stddef.h>

/* The longest store name, in bytes (kumo.yaml allows 63). */
#define KUMO__STORE_NAME_MAX 64
/* A buffer that holds every valid name's variable, NUL included. */
#define KUMO__STORE_VAR_MAX (sizeof("KUMO_STORE_") + KUMO__STORE_NAME_MAX)

/* Writes KUMO_STORE_<NAME> (upper case, '-' as '_') into buf (len bytes):
 * 0; -EINVAL when the name is empty, over KUMO__STORE_NAME_MAX bytes, or
 * has other than letters, digits, '-' and '_'; -ENAMETOOLONG when len is
 * too small. buf is unspecified on failure. */
int kumo__store_var(const char *store, char *buf, size_t len);

#endif
