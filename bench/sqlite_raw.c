/*
 * sqlite_raw.c: the "direct" side of bench/stores.sh for the sqlite driver:
 * the same statements the driver runs per operation (src/sdk/stores/sqlite.c),
 * on the same file and table, through SQLite's C API with no kumo in
 * between. CALLERS processes run for SECONDS each; prints "OP CALLERS OPS/S".
 *
 *     sqlite_raw get|put CALLERS SECONDS KEYS PATH
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long run(int put, double seconds, unsigned keys, const char *path, unsigned seed)
{
    sqlite3 *db;
    sqlite3_stmt *get, *clock, *upsert, *begin, *commit;
    char value[1024], key[32];
    long ops = 0;
    memset(value, 'x', sizeof(value));
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL);
    sqlite3_prepare_v2(db,
                       "SELECT value, version, coalesce(expires <= ?3, 0) FROM kumo_kv WHERE store = ?1 AND key = ?2",
                       -1, &get, NULL);
    sqlite3_prepare_v2(db, "UPDATE kumo_kv_clock SET version = version + 1 WHERE id = 1 RETURNING version", -1, &clock,
                       NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO kumo_kv (store, key, value, version, expires) VALUES (?1, ?2, ?3, ?4, NULL) "
                       "ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                       "expires = excluded.expires",
                       -1, &upsert, NULL);
    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL);
    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL);
    double end = now() + seconds;
    while (now() < end) {
        int n = snprintf(key, sizeof(key), "key:%u", (unsigned)rand_r(&seed) % keys);
        if (!put) {
            sqlite3_bind_text(get, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_blob(get, 2, key, n, SQLITE_STATIC);
            sqlite3_bind_int64(get, 3, 0);
            while (sqlite3_step(get) == SQLITE_ROW)
                ;
            sqlite3_reset(get);
        } else {
            sqlite3_step(begin);
            sqlite3_reset(begin);
            sqlite3_int64 version = 0;
            if (sqlite3_step(clock) == SQLITE_ROW)
                version = sqlite3_column_int64(clock, 0);
            sqlite3_reset(clock);
            sqlite3_bind_text(upsert, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_blob(upsert, 2, key, n, SQLITE_STATIC);
            sqlite3_bind_blob(upsert, 3, value, sizeof(value), SQLITE_STATIC);
            sqlite3_bind_int64(upsert, 4, version);
            sqlite3_step(upsert);
            sqlite3_reset(upsert);
            sqlite3_step(commit);
            sqlite3_reset(commit);
        }
        ops++;
    }
    sqlite3_finalize(get);
    sqlite3_finalize(clock);
    sqlite3_finalize(upsert);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    return ops;
}

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "put") != 0)) {
        fprintf(stderr, "usage: %s get|put CALLERS SECONDS KEYS PATH\n", argv[0]);
        return 2;
    }
    int put = strcmp(argv[1], "put") == 0, callers = atoi(argv[2]);
    double seconds = atof(argv[3]);
    unsigned keys = (unsigned)atoi(argv[4]);
    long *counts =
        mmap(NULL, sizeof(long) * (size_t)callers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED || callers < 1)
        return 1;
    for (int i = 0; i < callers; i++)
        if (fork() == 0)
            _exit((counts[i] = run(put, seconds, keys, argv[5], (unsigned)i * 7919u + 1)) < 0);
    long total = 0;
    int failed = 0;
    for (int i = 0; i < callers; i++) {
        int st;
        wait(&st);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    for (int i = 0; i < callers; i++)
        total += counts[i] > 0 ? counts[i] : 0;
    printf("%s %d %.0f%s\n", argv[1], callers, (double)total / seconds, failed ? " (with errors)" : "");
    return 0;
}
