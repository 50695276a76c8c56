/*
 * outbound_raw.c: the floor bench/outbound.sh compares kumo_http with: N
 * sequential GETs of URL with one libcurl easy handle (its connection
 * kept alive), as a C program calling the service directly would.
 *
 *   outbound_raw URL N    prints: us_per_call F errors E
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[2]), errors = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        long status = 0;
        if (curl_easy_perform(e) != CURLE_OK || curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            status != 200)
            errors++;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / (double)n;
    printf("us_per_call %.2f errors %ld\n", us, errors);
    curl_easy_cleanup(e);
    curl_global_cleanup();
    return 0;
}
