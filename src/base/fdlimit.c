/*
 * fdlimit.c: see fdlimit.h.
 */
#include "base/fdlimit.h"

#include <sys/resource.h>

#define CONNECTION_BOUND_MIN 16

size_t kumo__connection_bound(int configured, int loops, size_t reserve)
{
    if (configured > 0)
        return (size_t)configured;
    struct rlimit rl;
    size_t limit = 1u << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit)
        limit = (size_t)rl.rlim_cur;
    size_t per = limit > reserve ? (limit - reserve) / (size_t)(loops > 0 ? loops : 1) : 0;
    return per < CONNECTION_BOUND_MIN ? CONNECTION_BOUND_MIN : per;
}

unsigned long kumo__raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}
