/*
 * strlist.c: see strlist.h.
 */
#include "base/strlist.h"

#include <string.h>

int kumo__in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}
