/*
 * build.c: from a unit's C sources to a loaded-ready shared object, and
 * from the OpenAPI operations to the units that implement them.
 *
 * A unit is rebuilt when its .so is missing or older than any source, any
 * header the compiler said they include (NAME.d, the compiler's own
 * dependency output: -MMD for one source, -MM per source for several) or
 * kumo.h, or when its own flags (kumo.yaml's cflags:, libs:, and what
 * pkg-config answers for pkg_config:) differ from those it was built with
 * (the stamp SO.flags); the compiler runs as a child with the SDK's
 * include path and those flags, and its messages (file:line: error) go to
 * the user's terminal as they come and, their first lines, into the error
 * (kumo reload's answer, /docs). The
 * symbol table is read from the ELF file itself, so binding operations to
 * units never loads user code into the gateway.
 */
#include "runtime/runtime.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The compiler's messages kept for the error (the terminal gets them all),
 * and the largest dependency file read. */
#define COMPILER_SAID_MAX 8192
#define DEPS_MAX (1u << 20)

static char exe_dir[PATH_MAX];

static const char *self_dir(void)
{
    if (exe_dir[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
        if (n <= 0) {
            strcpy(exe_dir, ".");
        } else {
            exe_dir[n] = '\0';
            char *slash = strrchr(exe_dir, '/');
            if (slash)
                *slash = '\0';
        }
    }
    return exe_dir;
}

const char *kumo__include_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("KUMO_INCLUDE");
    if (env && *env)
        return env;
    if (dir[0] == '\0') {
        char probe[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/../include", self_dir());
        snprintf(probe, sizeof(probe), "%s/kumo.h", dir);
        if (access(probe, R_OK) != 0)
            snprintf(dir, sizeof(dir), "%s", KUMO_SOURCE_INCLUDE_DIR);
    }
    return dir;
}

const char *kumo__worker_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("KUMO_WORKER");
    if (env && *env)
        return env;
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "%s/kumo-worker", self_dir());
    return path;
}

const char *kumo__host_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("KUMO_HOST");
    if (env && *env)
        return env;
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "%s/kumo-host", self_dir());
    return path;
}

const char *kumo__lambda_host_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("KUMO_LAMBDA_HOST");
    if (env && *env)
        return env;
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "%s/kumo-lambda", self_dir());
    return path;
}

const char *kumo__http_host_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("KUMO_HTTP_HOST");
    if (env && *env)
        return env;
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "%s/kumo-http", self_dir());
    return path;
}

static int mtime_of(const char *path, struct timespec *out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    *out = st.st_mtim;
    return 0;
}

static int newer(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* ---- a unit's own flags (functions.NAME.cflags, libs, pkg_config) -------- */

#define PKG_CONFIG_OUT_MAX 16384 /* pkg-config's answer for one unit */

/* pkg-config --cflags --libs of the unit's packages, split into words
 * (*words and its strings in one malloc'd block, NULL-ended; NULL with
 * none asked). A package pkg-config does not know is an error naming
 * kumo.yaml's line. */
static int pkg_config_words(const kumo__project *p, const kumo__unit *u, char ***words, kumo__error *err)
{
    *words = NULL;
    if (u->pkg_config == NULL || u->pkg_config[0] == NULL)
        return 0;
    size_t n = 0;
    while (u->pkg_config[n])
        n++;
    const char **argv = calloc(n + 5, sizeof(*argv));
    char *out = malloc(PKG_CONFIG_OUT_MAX + 1);
    int pipefd[2] = {-1, -1}, rc = 0;
    size_t len = 0;
    if (argv == NULL || out == NULL) {
        kumo__error_set(err, rc = -ENOMEM, "out of memory");
        goto out;
    }
    argv[0] = "pkg-config";
    argv[1] = "--cflags";
    argv[2] = "--libs";
    argv[3] = "--";
    for (size_t i = 0; i < n; i++)
        argv[4 + i] = u->pkg_config[i];
    posix_spawn_file_actions_t fa;
    pid_t pid;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        kumo__error_set(err, rc = -errno, "pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    int sr = posix_spawnp(&pid, "pkg-config", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    pipefd[1] = -1;
    if (sr != 0) {
        kumo__error_set(err, rc = -sr, "functions.%s.pkg_config: cannot run pkg-config: %s; install pkg-config",
                        u->name, strerror(sr));
        goto out;
    }
    ssize_t got;
    while ((got = read(pipefd[0], out + len, PKG_CONFIG_OUT_MAX - len)) > 0 && len < PKG_CONFIG_OUT_MAX)
        len += (size_t)got;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len >= PKG_CONFIG_OUT_MAX) {
        json_t *def = json_object_get(json_object_get(kumo__doc_root(p->doc), "functions"), u->name);
        kumo__doc_value_error(err, p->doc, def, "pkg_config",
                              "functions.%s.pkg_config: pkg-config does not know every package of it (its message "
                              "above); install the library's -dev package or fix the name",
                              u->name);
        rc = -EINVAL;
        goto out;
    }
    out[len] = '\0';
    size_t nw = 0;
    for (char *c = out; *c;) {
        c += strspn(c, " \t\n");
        if (*c)
            nw++;
        c += strcspn(c, " \t\n");
    }
    char **w = malloc((nw + 1) * sizeof(char *) + len + 1);
    if (w == NULL) {
        kumo__error_set(err, rc = -ENOMEM, "out of memory");
        goto out;
    }
    char *at = (char *)(w + nw + 1);
    size_t k = 0;
    for (char *c = out; *c;) {
        c += strspn(c, " \t\n");
        size_t wl = strcspn(c, " \t\n");
        if (wl) {
            memcpy(at, c, wl);
            at[wl] = '\0';
            w[k++] = at;
            at += wl + 1;
        }
        c += wl;
    }
    w[k] = NULL;
    *words = w;
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    free(argv);
    free(out);
    return rc;
}

static size_t count(char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

/* The unit's own flags as one line (what the stamp beside its .so holds,
 * so that a change in kumo.yaml rebuilds it): malloc'd. */
static char *flags_line(const kumo__unit *u, char *const *pkg)
{
    char *const *lists[] = {u->cflags, pkg, u->libs};
    size_t len = 1;
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; lists[l] && lists[l][i]; i++)
            len += strlen(lists[l][i]) + 1;
    char *line = malloc(len);
    if (line == NULL)
        return NULL;
    size_t at = 0;
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; lists[l] && lists[l][i]; i++)
            at += (size_t)sprintf(line + at, "%s\n", lists[l][i]);
    line[at] = '\0';
    return line;
}

/* Whether the stamp SO.flags holds `line` (a missing stamp holds ""). */
static int stamp_matches(const kumo__unit *u, const char *line)
{
    char path[PATH_MAX], buf[8192];
    snprintf(path, sizeof(path), "%s.flags", u->so_path);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strcmp(buf, line) == 0;
}

static void stamp_write(const kumo__unit *u, const char *line)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s.flags", u->so_path);
    if (*line == '\0') {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "we");
    if (f) {
        fputs(line, f);
        fclose(f);
    }
}

/* Reads a make rule ("target: dep dep \\\n dep") as the compiler writes it:
 * every prerequisite, with "\ " unescaped. One allocation, NULL-terminated
 * (free() it); a file larger than 1 MiB is not a dependency file. */
int kumo__read_deps(const char *d_path, char ***out)
{
    *out = NULL;
    FILE *f = fopen(d_path, "re");
    if (f == NULL)
        return -errno;
    char *text = malloc(DEPS_MAX + 1);
    size_t len = text ? fread(text, 1, DEPS_MAX + 1, f) : 0;
    fclose(f);
    if (text == NULL)
        return -ENOMEM;
    if (len > DEPS_MAX) {
        free(text);
        return -EFBIG;
    }
    text[len] = '\0';
    /* the rules' prerequisites, unescaped in place, each ended by '\0':
     * a rule's words up to the one ending in ':' are its targets */
    size_t count = 0, w = 0, start = 0;
    int in_target = 1, in_word = 0;
    for (size_t r = 0; r <= len; r++) {
        char c = r < len ? text[r] : '\n';
        int sep = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (c == '\\' && r + 1 < len && text[r + 1] == '\n') {
            r++;
            sep = 1, c = ' ';
        } else if (c == '\\' && r + 1 < len && (text[r + 1] == ' ' || text[r + 1] == '#')) {
            c = text[++r];
            sep = 0;
        } else if (c == '$' && r + 1 < len && text[r + 1] == '$') {
            r++;
        }
        if (!sep) {
            if (!in_word)
                start = w;
            text[w++] = c;
            in_word = 1;
            continue;
        }
        if (in_word) {
            if (in_target) {
                if (text[w - 1] == ':')
                    in_target = 0;
                w = start; /* a target: dropped */
            } else {
                text[w++] = '\0';
                count++;
            }
            in_word = 0;
        }
        if (c == '\n')
            in_target = 1;
    }
    char **list = malloc((count + 1) * sizeof(char *) + w + 1);
    if (list == NULL) {
        free(text);
        return -ENOMEM;
    }
    char *strs = (char *)(list + count + 1);
    memcpy(strs, text, w);
    free(text);
    size_t i = 0;
    for (size_t at = 0; i < count && at < w; at += strlen(strs + at) + 1)
        list[i++] = strs + at;
    list[i] = NULL;
    *out = list;
    return 0;
}

/* NAME.d beside NAME.so: where a unit's header dependencies are kept. */
static void deps_path(const kumo__unit *u, char *out, size_t len)
{
    size_t n = strlen(u->so_path);
    if (n > 3 && strcmp(u->so_path + n - 3, ".so") == 0)
        n -= 3;
    snprintf(out, len, "%.*s.d", (int)n, u->so_path);
}

int kumo__unit_deps(const kumo__unit *u, char ***out)
{
    char d[PATH_MAX + 8];
    deps_path(u, d, sizeof(d));
    return kumo__read_deps(d, out);
}

/* Stale when the .so is missing or older than kumo.h, a source, or a
 * header its last build included; a .so without its dependency list (a
 * kumo that did not keep one built it) is rebuilt once to learn it. */
static int needs_build(const kumo__unit *u, const char *header)
{
    struct timespec so = {0, 0}, t = {0, 0};
    if (mtime_of(u->so_path, &so) != 0)
        return 1;
    if (mtime_of(header, &t) == 0 && newer(&t, &so))
        return 1;
    for (size_t i = 0; i < u->nsources; i++)
        if (mtime_of(u->sources[i], &t) != 0 || newer(&t, &so))
            return 1;
    char **deps = NULL;
    if (kumo__unit_deps(u, &deps) != 0)
        return 1;
    int stale = 0;
    for (size_t i = 0; deps[i] && !stale; i++)
        stale = mtime_of(deps[i], &t) != 0 || newer(&t, &so);
    free(deps);
    return stale;
}

/* Runs argv, its stderr copied to ours as it comes and its first
 * COMPILER_SAID_MAX bytes kept in `said` (NUL-terminated). Returns the
 * wait status, or -errno when it could not run. */
static int run_child(char **argv, char *said, size_t said_len, int *status)
{
    int pipefd[2];
    said[0] = '\0';
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return -rc;
    }
    size_t kept = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(pipefd[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        fwrite(buf, 1, (size_t)n, stderr);
        size_t take = (size_t)n < said_len - 1 - kept ? (size_t)n : said_len - 1 - kept;
        memcpy(said + kept, buf, take);
        kept += take;
        said[kept] = '\0';
    }
    fflush(stderr);
    close(pipefd[0]);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

/* The compiler's first lines, for the error: at most 12 lines and what
 * fits, the rest said to be on the terminal. */
static void first_lines(const char *said, char *out, size_t len)
{
    size_t n = 0, lines = 0;
    while (said[n] && lines < 12) {
        if (said[n++] == '\n')
            lines++;
    }
    while (n > 0 && (said[n - 1] == '\n' || said[n - 1] == ' '))
        n--;
    snprintf(out, len, "%.*s%s", (int)n, said, said[n] && said[n + 1] ? "\n..." : "");
}

static int run_compiler(const kumo__unit *u, char *const *pkg, const char *tmp, kumo__error *err)
{
    const char *cc = getenv("CC");
    if (cc == NULL || *cc == '\0')
        cc = "cc";
    char incflag[PATH_MAX + 3], dfile[PATH_MAX + 8], dtmp[PATH_MAX + 32];
    snprintf(incflag, sizeof(incflag), "-I%s", kumo__include_dir());
    deps_path(u, dfile, sizeof(dfile));
    snprintf(dtmp, sizeof(dtmp), "%s.tmp%d", dfile, (int)getpid());
    char *said = malloc(COMPILER_SAID_MAX);
    size_t n = 0, cap = u->nsources + 16 + count(u->cflags) + count(pkg) + count(u->libs);
    char **argv = calloc(cap, sizeof(*argv));
    int rc = 0, status = 0;
    if (argv == NULL || said == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    argv[n++] = (char *)cc;
    argv[n++] = "-shared";
    argv[n++] = "-fPIC";
    argv[n++] = "-O2";
    argv[n++] = "-g";
    argv[n++] = "-Wall";
    argv[n++] = incflag;
    for (size_t i = 0; u->cflags && u->cflags[i]; i++)
        argv[n++] = u->cflags[i];
    if (u->nsources == 1) { /* the headers it includes, as it compiles */
        argv[n++] = "-MMD";
        argv[n++] = "-MF";
        argv[n++] = dtmp;
    }
    argv[n++] = "-o";
    argv[n++] = (char *)tmp;
    for (size_t i = 0; i < u->nsources; i++)
        argv[n++] = u->sources[i];
    /* after the sources, so the linker resolves their references */
    for (size_t i = 0; pkg && pkg[i]; i++)
        argv[n++] = pkg[i];
    for (size_t i = 0; u->libs && u->libs[i]; i++)
        argv[n++] = u->libs[i];
    argv[n++] = "-ljansson";
    argv[n] = NULL;

    unlink(dtmp);
    rc = run_child(argv, said, COMPILER_SAID_MAX, &status);
    if (rc != 0) {
        kumo__error_set(err, rc, "cannot run the C compiler '%s': %s; install gcc or set CC", cc, strerror(-rc));
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char shown[1600];
        first_lines(said, shown, sizeof(shown));
        kumo__error_set(err, -EINVAL, "function unit '%s' did not compile:\n%s", u->name,
                        shown[0] ? shown : "(the compiler said nothing; see the terminal)");
        rc = err->code;
        goto out;
    }
    /* several sources: -MMD would keep only the last one's headers, so
     * each is asked with -MM (preprocessing only) */
    for (size_t i = 0; u->nsources > 1 && i < u->nsources; i++) {
        char one[PATH_MAX + 32];
        snprintf(one, sizeof(one), "%s.%zu", dtmp, i);
        size_t dn = 0;
        char **dargv = argv; /* reused: the compile is over */
        dargv[dn++] = (char *)cc;
        dargv[dn++] = incflag;
        for (size_t k = 0; u->cflags && u->cflags[k]; k++)
            dargv[dn++] = u->cflags[k];
        for (size_t k = 0; pkg && pkg[k]; k++)
            if (strncmp(pkg[k], "-I", 2) == 0 || strncmp(pkg[k], "-D", 2) == 0)
                dargv[dn++] = pkg[k];
        dargv[dn++] = "-MM";
        dargv[dn++] = "-MF";
        dargv[dn++] = one;
        dargv[dn++] = u->sources[i];
        dargv[dn] = NULL;
        FILE *all = NULL;
        if (run_child(dargv, said, COMPILER_SAID_MAX, &status) != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            (all = fopen(dtmp, "ae")) == NULL) {
            unlink(one);
            unlink(dtmp); /* no list: the next start rebuilds, to be sure */
            goto out;
        }
        FILE *part = fopen(one, "re");
        size_t got;
        char buf[4096];
        while (part && (got = fread(buf, 1, sizeof(buf), part)) > 0)
            fwrite(buf, 1, got, all);
        if (part)
            fclose(part);
        fclose(all);
        unlink(one);
    }
    if (rename(dtmp, dfile) != 0)
        unlink(dfile);
out:
    unlink(dtmp);
    free(argv);
    free(said);
    return rc;
}

int kumo__build_units(const kumo__project *p, int *built, kumo__error *err)
{
    char header[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 16];
    snprintf(header, sizeof(header), "%s/kumo.h", kumo__include_dir());
    snprintf(dir, sizeof(dir), "%s/.kumo/build/local", p->dir);
    *built = 0;
    int rc = mkdirs(dir);
    if (rc != 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < p->nunits; i++) {
        const kumo__unit *u = &p->units[i];
        char **pkg = NULL, *line = NULL;
        if ((rc = pkg_config_words(p, u, &pkg, err)) != 0)
            return rc;
        if ((line = flags_line(u, pkg)) == NULL) {
            free(pkg);
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        if (!needs_build(u, header) && stamp_matches(u, line)) {
            free(pkg);
            free(line);
            continue;
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp%d", u->so_path, (int)getpid());
        rc = run_compiler(u, pkg, tmp, err);
        if (rc == 0 && rename(tmp, u->so_path) != 0) {
            rc = -errno;
            kumo__error_set(err, rc, "cannot write %s: %s", u->so_path, strerror(errno));
        }
        if (rc == 0)
            stamp_write(u, line);
        free(pkg);
        free(line);
        if (rc != 0) {
            unlink(tmp);
            return rc;
        }
        (*built)++;
    }
    return 0;
}

/* Reads .dynsym of a 64-bit ELF shared object with bounds checks on every
 * offset, since the file is user-built and could be anything. */
int kumo__elf_symbols(const char *so_path, char ***out, kumo__error *err)
{
    int fd = -1, rc = 0;
    void *map = MAP_FAILED;
    size_t size = 0;
    char **list = NULL;
    *out = NULL;

    fd = open(so_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        kumo__error_set(err, -errno, "%s: %s", so_path, strerror(errno));
        rc = err->code;
        goto out;
    }
    size = (size_t)st.st_size;
    if (size < sizeof(Elf64_Ehdr))
        goto bad;
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        kumo__error_set(err, -errno, "%s: %s", so_path, strerror(errno));
        rc = err->code;
        goto out;
    }
    const unsigned char *b = map;
    const Elf64_Ehdr *eh = map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
        goto bad;
    if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
        (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum)
        goto bad;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
    const Elf64_Shdr *dynsym = NULL;
    for (size_t i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == SHT_DYNSYM)
            dynsym = &sh[i];
    if (dynsym == NULL || dynsym->sh_link >= eh->e_shnum || dynsym->sh_entsize != sizeof(Elf64_Sym))
        goto bad;
    const Elf64_Shdr *strtab = &sh[dynsym->sh_link];
    if (dynsym->sh_offset > size || dynsym->sh_size > size - dynsym->sh_offset || strtab->sh_offset > size ||
        strtab->sh_size > size - strtab->sh_offset)
        goto bad;
    const Elf64_Sym *syms = (const Elf64_Sym *)(b + dynsym->sh_offset);
    size_t nsyms = dynsym->sh_size / sizeof(Elf64_Sym);
    const char *strs = (const char *)(b + strtab->sh_offset);
    size_t strsize = strtab->sh_size;

    /* Two passes: measure, then copy into one allocation. */
    size_t count = 0, bytes = 0;
    for (int pass = 0; pass < 2; pass++) {
        char *cursor = NULL;
        if (pass == 1) {
            list = malloc((count + 1) * sizeof(char *) + bytes);
            if (list == NULL) {
                kumo__error_set(err, -ENOMEM, "out of memory");
                rc = err->code;
                goto out;
            }
            cursor = (char *)(list + count + 1);
            count = 0;
        }
        for (size_t i = 0; i < nsyms; i++) {
            const Elf64_Sym *s = &syms[i];
            if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
                (ELF64_ST_BIND(s->st_info) != STB_GLOBAL && ELF64_ST_BIND(s->st_info) != STB_WEAK) ||
                ELF64_ST_VISIBILITY(s->st_other) != STV_DEFAULT || s->st_name >= strsize)
                continue;
            const char *name = strs + s->st_name;
            size_t len = strnlen(name, strsize - s->st_name);
            if (len == strsize - s->st_name || len == 0)
                continue;
            if (pass == 0) {
                bytes += len + 1;
            } else {
                memcpy(cursor, name, len + 1);
                list[count] = cursor;
                cursor += len + 1;
            }
            count++;
        }
    }
    list[count] = NULL;
    *out = list;
    list = NULL;
    goto out;
bad:
    kumo__error_set(err, -ENOEXEC, "%s: not a 64-bit ELF shared object with a dynamic symbol table", so_path);
    rc = err->code;
out:
    free(list);
    if (map != MAP_FAILED)
        munmap(map, size);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int has_symbol(char *const *syms, const char *name)
{
    for (size_t i = 0; syms && syms[i]; i++)
        if (strcmp(syms[i], name) == 0)
            return 1;
    return 0;
}

int kumo__unit_symbols(const kumo__project *p, char ****out_syms, kumo__error *err)
{
    char ***syms = calloc(p->nunits ? p->nunits : 1, sizeof(*syms));
    *out_syms = NULL;
    if (syms == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    for (size_t i = 0; i < p->nunits; i++) {
        int rc = kumo__elf_symbols(p->units[i].so_path, &syms[i], err);
        if (rc != 0) {
            kumo__error_wrap(err, "reading function unit '%s'", p->units[i].name);
            kumo__unit_symbols_free(p, syms);
            return rc;
        }
    }
    *out_syms = syms;
    return 0;
}

void kumo__unit_symbols_free(const kumo__project *p, char ***syms)
{
    for (size_t i = 0; syms && i < p->nunits; i++)
        free(syms[i]);
    free(syms);
}

/* A source path as the user wrote it: relative to the project folder. */
static const char *project_relative(const kumo__project *p, const char *path)
{
    size_t n = strlen(p->dir);
    if (strncmp(path, p->dir, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

typedef struct binder {
    const kumo__project *p;
    const kumo__spec *spec;
    enum kumo__bind_mode mode;
    kumo__bind_cb *cb;
    void *data;
    kumo__error *err;
} binder;

/* Reports one finding about `op`, positioned at the value that names its
 * handler (x-kumo-handler, else operationId), or at the operation. In stop
 * mode a refusal also sets err with the same text. */
static int report(binder *b, const kumo__operation *op, enum kumo__bind_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int report(binder *b, const kumo__operation *op, enum kumo__bind_kind kind, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    const kumo__doc *doc = b->spec->doc;
    const char *key = json_object_get(op->node, "x-kumo-handler") ? "x-kumo-handler" : "operationId";
    int line = 0, col = 0;
    if (kind == KUMO__BIND_NO_HANDLER || (!kumo__doc_pos(doc, json_object_get(op->node, key), &line, &col) &&
                                          !kumo__doc_key_pos(doc, op->node, key, &line, &col)))
        kumo__doc_pos(doc, op->node, &line, &col);
    kumo__bind_finding f = {.kind = kind,
                            .refused = kind == KUMO__BIND_NO_UNIT || kind == KUMO__BIND_AMBIGUOUS,
                            .op = op,
                            .file = kumo__doc_path(doc),
                            .line = line,
                            .col = col,
                            .message = message};
    if (b->cb)
        b->cb(b->data, &f);
    if (f.refused && b->mode == KUMO__BIND_STOP_AT_REFUSAL) {
        kumo__error_set(b->err, kind == KUMO__BIND_NO_UNIT ? -ENOENT : -EINVAL, "%s:%d:%d: %s %s: %s", f.file, line,
                        col, op->method, op->path, message);
        return b->err->code;
    }
    return 0;
}

/* The rules, for one operation: x-kumo-handler's unit when it names one,
 * else the one unit that defines the symbol. */
static int bind_one(binder *b, kumo__operation *op, char **const *syms)
{
    const kumo__project *p = b->p;
    op->unit_index = -1;
    if (op->symbol == NULL)
        return report(b, op, KUMO__BIND_NO_HANDLER,
                      "no handler: no operationId or x-kumo-handler, so it answers 501; add an operationId naming "
                      "a C function");
    if (op->unit != NULL) {
        const kumo__unit *u = kumo__project_unit(p, op->unit);
        if (u == NULL)
            return report(
                b, op, KUMO__BIND_NO_UNIT,
                "x-kumo-handler names unit '%s', which kumo.yaml does not define; add it under functions:", op->unit);
        size_t ui = (size_t)(u - p->units);
        if (syms[ui] == NULL) /* not known: the unit did not build */
            return 0;
        if (has_symbol(syms[ui], op->symbol)) {
            op->unit_index = (int)ui;
            return 0;
        }
        return report(b, op, KUMO__BIND_NOT_IN_UNIT,
                      "x-kumo-handler names '%s' in unit '%s', which does not define it, so it answers 501; define "
                      "`int %s(kumo_ctx *, const kumo_request *, kumo_response *)` in %s or fix the name",
                      op->symbol, op->unit, op->symbol, u->nsources ? project_relative(p, u->sources[0]) : "the unit");
    }
    int found = -1, all_known = 1;
    for (size_t u = 0; u < p->nunits; u++) {
        if (syms[u] == NULL) {
            all_known = 0;
            continue;
        }
        if (!has_symbol(syms[u], op->symbol))
            continue;
        if (found >= 0)
            return report(b, op, KUMO__BIND_AMBIGUOUS,
                          "handler '%s' is defined in units '%s' and '%s'; say which with x-kumo-handler: %s.%s",
                          op->symbol, p->units[found].name, p->units[u].name, p->units[found].name, op->symbol);
        found = (int)u;
    }
    op->unit_index = found;
    if (found < 0 && all_known)
        return report(b, op, KUMO__BIND_NOT_FOUND,
                      "handler '%s' is not defined in any function unit, so it answers 501; define it, or name "
                      "another with x-kumo-handler: UNIT.SYMBOL",
                      op->symbol);
    return 0;
}

int kumo__bind_symbols(const kumo__project *p, kumo__spec *spec, char **const *syms, enum kumo__bind_mode mode,
                       kumo__bind_cb *cb, void *data, kumo__error *err)
{
    binder b = {.p = p, .spec = spec, .mode = mode, .cb = cb, .data = data, .err = err};
    for (size_t i = 0; i < spec->nops; i++) {
        int rc = bind_one(&b, &spec->ops[i], syms);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* kumo up's view of the findings: refusals become the error, the rest
 * one warning line each ("GET /x: ..."). */
static void warn_unbound(void *data, const kumo__bind_finding *f)
{
    void (*warn)(const char *line) = *(void (**)(const char *))data;
    char line[1400];
    if (f->refused || warn == NULL)
        return;
    snprintf(line, sizeof(line), "%s %s: %s", f->op->method, f->op->path, f->message);
    warn(line);
}

int kumo__bind_operations(const kumo__project *p, kumo__spec *spec, void (*warn)(const char *line), kumo__error *err)
{
    char ***syms = NULL;
    int rc = kumo__unit_symbols(p, &syms, err);
    if (rc != 0)
        return rc;
    rc = kumo__bind_symbols(p, spec, syms, KUMO__BIND_STOP_AT_REFUSAL, warn_unbound, &warn, err);
    kumo__unit_symbols_free(p, syms);
    return rc;
}
