/*
 * strlist.h: NULL-terminated lists of strings (the keys a kumo.yaml
 * section accepts, the values a keyword takes).
 */
#ifndef KUMO_BASE_STRLIST_H
#define KUMO_BASE_STRLIST_H

/* Whether s is one of list's strings (list ends with NULL). */
int kumo__in_list(const char *s, const char *const *list);

#endif
