/* The bench process: what it must undo however it exits (its hub, perf, its
 * temporary directories), the clock, child processes and what /proc says of
 * them. See bench.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_process g = {.dying = PTHREAD_MUTEX_INITIALIZER};

static void rm_rf(const char *dir);

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cleanup_all(void)
{
    int st;
    if (g.perf_pid > 0)
        stop_child(&g.perf_pid, SIGINT, 10, &st);
    if (g.hub_pid > 0)
        stop_child(&g.hub_pid, SIGTERM, 10, &st);
    if (g.peer_pid > 0)
        stop_child(&g.peer_pid, SIGTERM, 10, &st);
    for (int i = 0; i < g.ndirs; i++)
        if (g.dirs[i][0] && !opt.keep)
            rm_rf(g.dirs[i]);
    g.ndirs = 0;
}

void die(const char *fmt, ...)
{
    pthread_mutex_lock(&g.dying);
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "csphub-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    struct stat sb;
    if (g.hub_log[0] && stat(g.hub_log, &sb) == 0 && sb.st_size > 0)
        print_file_tail(g.hub_log, 3000);
    cleanup_all();
    fflush(stderr);
    _exit(1);
}

void on_signal(int sig)
{
    if (g.interrupted) {
        /* Second interrupt: stop now. kill() is async-signal-safe. */
        if (g.hub_pid > 0)
            kill(g.hub_pid, SIGTERM);
        if (g.peer_pid > 0)
            kill(g.peer_pid, SIGTERM);
        if (g.perf_pid > 0)
            kill(g.perf_pid, SIGINT);
        _exit(130);
    }
    g.interrupted = 1; /* publishers stop sending and drain; then normal cleanup */
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *make_tmpdir(const char *what, char *out, size_t outsz)
{
    /* A slot forget_tmpdir emptied first: a run of --peers makes more
     * directories one after the other than there are slots. */
    int i = 0;
    while (i < g.ndirs && g.dirs[i][0])
        i++;
    if (i == (int)(sizeof g.dirs / sizeof g.dirs[0]))
        die("more than %d temporary directories at once", i);
    snprintf(out, outsz, "%s/csphub-bench-%s-XXXXXX", opt.tmpdir, what);
    if (!mkdtemp(out))
        die("cannot create a temporary directory in %s: %s (see --tmpdir)", opt.tmpdir,
            strerror(errno));
    snprintf(g.dirs[i], PATH_MAX, "%s", out);
    if (i == g.ndirs)
        g.ndirs++;
    return out;
}

void forget_tmpdir(const char *dir)
{
    for (int i = 0; i < g.ndirs; i++)
        if (strcmp(g.dirs[i], dir) == 0) {
            if (!opt.keep)
                rm_rf(dir);
            g.dirs[i][0] = 0;
        }
}

void stop_child(pid_t *pid, int sig, double wait_s, int *status)
{
    if (*pid <= 0)
        return;
    kill(*pid, sig);
    int64_t until = now_ns() + (int64_t)(wait_s * 1e9);
    *status = -1;
    for (;;) {
        pid_t r = waitpid(*pid, status, WNOHANG);
        if (r == *pid || (r < 0 && errno != EINTR))
            break;
        if (now_ns() > until) {
            kill(*pid, SIGKILL);
            waitpid(*pid, status, 0);
            break;
        }
        usleep(10000);
    }
    *pid = 0;
}

const char *fs_name(const char *dir)
{
    struct statfs sf;
    if (statfs(dir, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    case 0x6969: return "nfs";
    case 0x2FC12FC1: return "zfs";
    default: return "other";
    }
}

void print_file_tail(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size > (long)max)
        fseek(f, size - (long)max, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    char b[4096];
    size_t n;
    fprintf(stderr, "---- %s ----\n", path);
    while ((n = fread(b, 1, sizeof b, f)) > 0)
        fwrite(b, 1, n, stderr);
    fprintf(stderr, "----\n");
    fclose(f);
}

void read_rss(pid_t pid, long *rss_kb, long *hwm_kb, long *anon_kb, long *file_kb,
              long *shmem_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    *rss_kb = *hwm_kb = *anon_kb = *file_kb = *shmem_kb = -1;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "RssAnon:", 8) == 0)
            *anon_kb = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssFile:", 8) == 0)
            *file_kb = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssShmem:", 9) == 0)
            *shmem_kb = strtol(line + 9, NULL, 10);
    }
    fclose(f);
}

double proc_cpu_s(pid_t pid, int main_thread)
{
    char path[64], buf[1024];
    if (main_thread)
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double proc_faults(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long minflt, majflt;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt) != 2)
        return -1;
    return (double)(minflt + majflt);
}

double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
