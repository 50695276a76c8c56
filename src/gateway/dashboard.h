/*
 * dashboard.h: the dashboard on the admin port (issue 14): GET /dashboard
 * (the page, dashboard_page.c), GET /history (the metrics history's
 * series, obs/history.h), GET /recent (the slowest and failed recent
 * invocations, obs/recent.h, with their log lines from the log store).
 * The queries run on an admin job's thread, never on loop 0. The gateway
 * starts the history's thread at start-up and stops it after the loops.
 */
#ifndef KUMO_GATEWAY_DASHBOARD_H
#define KUMO_GATEWAY_DASHBOARD_H

#include <stddef.h>

/* The page, from assets/dashboard.html (dashboard_page.c). */
extern const char kumo__dashboard_html[];
extern const size_t kumo__dashboard_html_len;

#endif
