/*
 * curl_lazy.h: libcurl, loaded when it is first used rather than when the
 * process starts. Every file of kumo that speaks HTTP through libcurl
 * includes this instead of <curl/curl.h>; the curl_* calls it makes go
 * through a table that the first call fills by dlopen("libcurl.so.4").
 *
 * Why: libcurl brings about twenty libraries (GnuTLS, Kerberos, LDAP,
 * SSH, IDN, Brotli...) that the loader maps and relocates at every start,
 * most of a Lambda package's cold start (bench/deploy.py), whatever the
 * function does. A process that never makes an outbound call, reaches a
 * cloud store or fetches a key set never loads them.
 *
 * When libcurl cannot be loaded, the table holds stand-ins that fail the
 * way libcurl does when it cannot start: curl_easy_init and curl_multi_init
 * give NULL, curl_global_init CURLE_FAILED_INIT, curl_slist_append NULL, so
 * callers take the error paths they already have; kumo__curl_error says
 * why (dlerror's message).
 */
#ifndef KUMO_CURL_LAZY_H
#define KUMO_CURL_LAZY_H

#define CURL_DISABLE_TYPECHECK 1 /* curl.h's checking macros would name the functions themselves */
#include <curl/curl.h>
#include <time.h>

typedef struct kumo__curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *h, const char *s, int len);
    void (*free)(void *p);
    time_t (*getdate)(const char *s, const time_t *unused);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_perform)(CURLM *m, int *running);
    CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *extra, unsigned n, int timeout_ms, int *ret);
    CURLMcode (*multi_wakeup)(CURLM *m);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
} kumo__curl_api;

/* The table: libcurl's functions, or the stand-ins. Loads libcurl on the
 * first call (thread-safe); never NULL. */
const kumo__curl_api *kumo__curl(void);

/* Why libcurl could not be loaded, or NULL when it was (or was not tried). */
const char *kumo__curl_error(void);

/* What frees or cleans up loads nothing: with NULL (or before libcurl was
 * loaded, for the global cleanup) there is nothing to do, and a process
 * that never used libcurl must not map it on its way out. */
void kumo__curl_global_cleanup(void);
void kumo__curl_easy_cleanup(CURL *h);
void kumo__curl_free(void *p);
void kumo__curl_slist_free_all(struct curl_slist *list);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (kumo__curl()->global_init)
#define curl_global_cleanup kumo__curl_global_cleanup
#define curl_easy_init (kumo__curl()->easy_init)
#define curl_easy_cleanup kumo__curl_easy_cleanup
#define curl_easy_reset (kumo__curl()->easy_reset)
#define curl_easy_setopt (kumo__curl()->easy_setopt)
#define curl_easy_perform (kumo__curl()->easy_perform)
#define curl_easy_getinfo (kumo__curl()->easy_getinfo)
#define curl_easy_strerror (kumo__curl()->easy_strerror)
#define curl_easy_escape (kumo__curl()->easy_escape)
#define curl_free kumo__curl_free
#define curl_getdate (kumo__curl()->getdate)
#define curl_slist_append (kumo__curl()->slist_append)
#define curl_slist_free_all kumo__curl_slist_free_all
#define curl_multi_init (kumo__curl()->multi_init)
#define curl_multi_cleanup (kumo__curl()->multi_cleanup)
#define curl_multi_add_handle (kumo__curl()->multi_add_handle)
#define curl_multi_remove_handle (kumo__curl()->multi_remove_handle)
#define curl_multi_perform (kumo__curl()->multi_perform)
#define curl_multi_poll (kumo__curl()->multi_poll)
#define curl_multi_wakeup (kumo__curl()->multi_wakeup)
#define curl_multi_info_read (kumo__curl()->multi_info_read)

#endif
