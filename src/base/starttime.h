/*
 * starttime.h: where the milliseconds of a start go. With KUMO_START_TIMES=1
 * in the environment, kumo up and kumo mock note the end of each step of
 * their start (reading the project and the document, the router, the
 * docs, compiling the checks, starting the loops) and print one line on
 * stderr when they are ready:
 *
 *   kumo: start (ms): project 0.2, spec 24.3, router 0.1, ...; ready 41.0 ms after the program's constructors
 *   (monotonic 1234.567 .. 1275.567 ms; cpu 38.2 ms)
 *
 * Each step's duration follows its name ("+name": a step after ready,
 * which the start does while it already serves); what comes before the
 * constructors (exec, the dynamic linker) and after ready (the first
 * request) a bench measures from outside (bench/mock_start.py). Without
 * the variable nothing is noted. Main thread only (the steps are on it).
 */
#ifndef KUMO_BASE_STARTTIME_H
#define KUMO_BASE_STARTTIME_H

/* The end of step `name` (a string literal): its duration since the last
 * mark (or since the first mark's own start: main's constructors). */
void kumo__start_mark(const char *name);
/* Ready: the loops serve from here on. Steps noted after it (work the
 * start does once it serves) are printed with a "+" before their name and
 * are not in the ready figure. Without it, ready is the last step's end. */
void kumo__start_serving(void);
/* Prints the line and stops noting (later calls do nothing). */
void kumo__start_report(void);

#endif
