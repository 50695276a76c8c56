/*
 * spec_only.c: see spec_only.h. The defaults are kumo.yaml's (project.c's
 * project_load), so that a mock refuses a large body or too many headers
 * exactly where kumo up would.
 */
#include "project/spec_only.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int kumo__project_from_spec(const char *spec, kumo__project **out, kumo__error *err)
{
    *out = NULL;
    int rc = 0;
    struct stat st;
    kumo__project *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    kumo__project_defaults(p);
    p->obs.enabled = 0; /* a mock records nothing */
    if (stat(spec, &st) != 0) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: %s; give the path of an OpenAPI document (YAML or JSON)", spec, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        kumo__error_set(err, rc, "%s is not a file; give the path of an OpenAPI document (YAML or JSON)", spec);
        goto out;
    }
    if ((p->api_path = realpath(spec, NULL)) == NULL) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: %s", spec, strerror(errno));
        goto out;
    }
    char *slash = strrchr(p->api_path, '/');
    const char *base = slash ? slash + 1 : p->api_path;
    size_t n = strcspn(base, ".");
    if ((p->dir = strndup(p->api_path, slash && slash != p->api_path ? (size_t)(slash - p->api_path) : 1)) == NULL ||
        (p->name = strndup(base, n ? n : strlen(base))) == NULL) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
out:
    if (rc != 0) {
        kumo__project_free(p);
        return rc;
    }
    *out = p;
    return 0;
}
