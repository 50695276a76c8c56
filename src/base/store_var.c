/*
 * store_var.c: a store's name -> KUMO_STORE_<NAME> (see store_var.h).
 */
#include "base/store_var.h"

#include <errno.h>
#include <string.h>

int kumo__store_var(const char *store, char *buf, size_t len)
{
    static const char prefix[] = "KUMO_STORE_";
    size_t n = strlen(store);
    if (n == 0 || n > KUMO__STORE_NAME_MAX)
        return -EINVAL;
    if (len < sizeof prefix + n)
        return -ENAMETOOLONG;
    memcpy(buf, prefix, sizeof prefix - 1);
    char *out = buf + sizeof prefix - 1;
    for (; *store; store++) {
        char c = *store;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (c == '-')
            c = '_';
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return -EINVAL;
        *out++ = c;
    }
    *out = '\0';
    return 0;
}
