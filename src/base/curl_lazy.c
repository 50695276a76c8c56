/*
 * curl_lazy.c: libcurl loaded on first use (see curl_lazy.h).
 */
#include "base/curl_lazy.h"
#include "base/dlload.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the stand-ins: libcurl could not be loaded ---- */

static CURLcode no_global_init(long flags)
{
    (void)flags;
    return CURLE_FAILED_INIT;
}
static void no_void(void)
{
}
static CURL *no_easy_init(void)
{
    return NULL;
}
static void no_easy(CURL *h)
{
    (void)h;
}
static CURLcode no_setopt(CURL *h, CURLoption option, ...)
{
    (void)h;
    (void)option;
    return CURLE_FAILED_INIT;
}
static CURLcode no_perform(CURL *h)
{
    (void)h;
    return CURLE_FAILED_INIT;
}
static CURLcode no_getinfo(CURL *h, CURLINFO info, ...)
{
    (void)h;
    (void)info;
    return CURLE_FAILED_INIT;
}
static const char *no_strerror(CURLcode code)
{
    (void)code;
    return "libcurl is not loaded";
}
static char *no_escape(CURL *h, const char *s, int len)
{
    (void)h;
    (void)s;
    (void)len;
    return NULL;
}
static void no_free(void *p)
{
    (void)p;
}
static time_t no_getdate(const char *s, const time_t *unused)
{
    (void)s;
    (void)unused;
    return -1;
}
static struct curl_slist *no_slist_append(struct curl_slist *list, const char *s)
{
    (void)list;
    (void)s;
    return NULL;
}
static void no_slist_free_all(struct curl_slist *list)
{
    (void)list;
}
static CURLM *no_multi_init(void)
{
    return NULL;
}
static CURLMcode no_multi(CURLM *m)
{
    (void)m;
    return CURLM_BAD_HANDLE;
}
static CURLMcode no_multi_handle(CURLM *m, CURL *h)
{
    (void)m;
    (void)h;
    return CURLM_BAD_HANDLE;
}
static CURLMcode no_multi_perform(CURLM *m, int *running)
{
    (void)m;
    *running = 0;
    return CURLM_BAD_HANDLE;
}
static CURLMcode no_multi_poll(CURLM *m, struct curl_waitfd *extra, unsigned n, int timeout_ms, int *ret)
{
    (void)m;
    (void)extra;
    (void)n;
    (void)timeout_ms;
    if (ret)
        *ret = 0;
    return CURLM_BAD_HANDLE;
}
static CURLMsg *no_info_read(CURLM *m, int *left)
{
    (void)m;
    *left = 0;
    return NULL;
}

static kumo__curl_api api = {
    .global_init = no_global_init,
    .global_cleanup = no_void,
    .easy_init = no_easy_init,
    .easy_cleanup = no_easy,
    .easy_reset = no_easy,
    .easy_setopt = no_setopt,
    .easy_perform = no_perform,
    .easy_getinfo = no_getinfo,
    .easy_strerror = no_strerror,
    .easy_escape = no_escape,
    .free = no_free,
    .getdate = no_getdate,
    .slist_append = no_slist_append,
    .slist_free_all = no_slist_free_all,
    .multi_init = no_multi_init,
    .multi_cleanup = no_multi,
    .multi_add_handle = no_multi_handle,
    .multi_remove_handle = no_multi_handle,
    .multi_perform = no_multi_perform,
    .multi_poll = no_multi_poll,
    .multi_wakeup = no_multi,
    .multi_info_read = no_info_read,
};
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic int used; /* kumo__curl was called: libcurl is loaded, or its stand-ins are in */

static void load(void)
{
    static const char *const names[] = {
        "curl_global_init",      "curl_global_cleanup",      "curl_easy_init",     "curl_easy_cleanup",
        "curl_easy_reset",       "curl_easy_setopt",         "curl_easy_perform",  "curl_easy_getinfo",
        "curl_easy_strerror",    "curl_easy_escape",         "curl_free",          "curl_getdate",
        "curl_slist_append",     "curl_slist_free_all",      "curl_multi_init",    "curl_multi_cleanup",
        "curl_multi_add_handle", "curl_multi_remove_handle", "curl_multi_perform", "curl_multi_poll",
        "curl_multi_wakeup",     "curl_multi_info_read",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(api) / sizeof(void (*)(void)),
                   "one name per entry of kumo__curl_api, in its order");
    kumo__dlload("libcurl.so.4", names, sizeof(names) / sizeof(names[0]), &api, load_error, sizeof(load_error));
}

const kumo__curl_api *kumo__curl(void)
{
    pthread_once(&once, load);
    used = 1;
    return &api;
}

void kumo__curl_global_cleanup(void)
{
    if (used)
        api.global_cleanup();
}

void kumo__curl_easy_cleanup(CURL *h)
{
    if (h)
        kumo__curl()->easy_cleanup(h);
}

void kumo__curl_free(void *p)
{
    if (p)
        kumo__curl()->free(p);
}

void kumo__curl_slist_free_all(struct curl_slist *list)
{
    if (list)
        kumo__curl()->slist_free_all(list);
}

const char *kumo__curl_error(void)
{
    return load_error[0] ? load_error : NULL;
}
