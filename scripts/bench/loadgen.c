/*
 * loadgen.c — gale's echo load generator: one thread, one epoll set.
 *
 * usage: loadgen HOST PORT MODE CONNS SIZE DEPTH DURATION WARMUP [--server-pid PID]
 *
 *   pingpong  1 connection, one SIZE-byte message at a time; latency p50/p99 (µs)
 *   pipeline  CONNS connections, each keeping DEPTH SIZE-byte messages in flight; msgs/s
 *   bulk      the same machinery with big messages (e.g. 64 KiB chunks); MB/s (10^6 bytes)
 *   connect   CONNS concurrent loops of: connect, send SIZE bytes, read the echo,
 *             close; connections/s
 *
 * Every byte sent follows a per-connection pattern and every echoed byte is
 * compared against it, so a server that drops, duplicates, reorders or mixes
 * up connections fails the run instead of looking fast.
 *
 * Timeline: connect (bounded) → WARMUP s unmeasured → DURATION s measured →
 * drain (stop sending, read back everything in flight, bounded) → close.
 * Each phase is guarded by alarm(): if one overruns, the SIGALRM handler
 * prints a failure line and exits. With --server-pid the server's CPU time
 * (utime and stime from /proc/PID/stat, all its threads: reported apart and
 * summed) is sampled at the exact edges of the measured window.
 *
 * Output: exactly one JSON line on stdout (ok:true or ok:false with an
 * error), exit status 0 on success, 1 on failure, 2 on a phase timeout,
 * 64 on bad usage. Only loopback destinations are accepted: this is a tool
 * for measuring a local server, never for loading someone else's.
 *
 * Build: cc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { M_PINGPONG, M_PIPELINE, M_BULK, M_CONNECT };
static const char *const mode_names[] = {"pingpong", "pipeline", "bulk", "connect"};

/* The pattern: a fixed pseudo-random table with a prime period; connection
 * `id` starts at a different rotation, so crossed streams are caught too.
 * Byte `off` of connection `id` is pattern[(off + id * 37) % PERIOD]. */
#define PERIOD 251u
#define RXBUF (256u * 1024u)    /* bytes per recv() */
#define MAXTX (256u * 1024u)    /* bytes per send() */
#define MAX_SIZE (1u << 20)     /* largest message */
#define MAX_SAMPLES (32u << 20) /* latency samples kept (128 MiB of uint32) */
#define PROGRESS_LIMIT_NS (5ull * 1000000000ull)

static unsigned char *pattern;

static inline const unsigned char *pat_at(uint32_t id, uint64_t off) {
    return pattern + (size_t)((off + (uint64_t)id * 37u) % PERIOD);
}

typedef struct {
    int fd;
    uint32_t id;       /* pattern rotation */
    int connecting;    /* connect mode: nonblocking connect not yet finished */
    int out_armed;     /* EPOLLOUT is registered */
    uint64_t tx, rx;   /* bytes sent / bytes received and verified */
    uint64_t *sent_at; /* ring[depth]: when each in-flight message started to go out */
} conn_t;

/* ---------------------------------------------------------------- settings */
static int g_mode = -1, g_port, g_nconns, g_server_pid;
static uint64_t g_size, g_depth;
static double g_duration, g_warmup;
static const char *g_host;
static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;

/* ---------------------------------------------------------------- state */
static int g_ep = -1;
static conn_t *g_conns;
static unsigned char *g_rxbuf;
static int g_measuring, g_stopping;
static uint32_t g_next_id;
static uint64_t g_now;              /* ns, CLOCK_MONOTONIC, refreshed often */
static uint64_t g_last_progress;    /* last time any byte was echoed */
static uint64_t t_msgs, t_rx, t_tx, t_conns; /* running totals */
static uint32_t *g_samples;         /* latencies (ns) inside the window */
static size_t g_nsamples, g_capsamples;
static volatile const char *g_phase = "setup";

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- failure paths */
static void on_alarm(int sig) {
    (void)sig;
    /* Only async-signal-safe calls here: the phase names are constants. */
    const char *p = (const char *)g_phase;
    static const char a[] = "{\"tool\":\"gale-loadgen\",\"ok\":false,\"error\":\"timed out in phase ";
    static const char b[] = "\"}\n";
    ssize_t r = write(1, a, sizeof a - 1);
    r = write(1, p, strlen(p));
    r = write(1, b, sizeof b - 1);
    (void)r;
    _exit(2);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    alarm(0);
    printf("{\"tool\":\"gale-loadgen\",\"ok\":false,\"error\":");
    json_str(stdout, msg);
    printf(",\"mode\":\"%s\",\"phase\":\"%s\"}\n", g_mode >= 0 ? mode_names[g_mode] : "?",
           (const char *)g_phase);
    fflush(stdout);
    exit(1);
}

static void set_phase(const char *name, unsigned seconds) {
    g_phase = name;
    alarm(seconds);
}

/* ---------------------------------------------------------------- measurements */
/* utime and stime of PID in clock ticks (user and kernel time, all its
 * threads); false if unreadable. The comm field may hold spaces and
 * parentheses, so parse from the last ')'. */
static int proc_cpu_ticks(int pid, long long *user, long long *sys) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    /* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0;
    *user = (long long)utime;
    *sys = (long long)stime;
    return 1;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

typedef struct {
    uint64_t t, msgs, rx, tx, conns;
    long long srv_user, srv_sys; /* -1: unreadable */
    double self_cpu;
} snap_t;

static void take_snap(snap_t *s) {
    s->t = mono_ns();
    s->msgs = t_msgs;
    s->rx = t_rx;
    s->tx = t_tx;
    s->conns = t_conns;
    if (g_server_pid <= 0 || !proc_cpu_ticks(g_server_pid, &s->srv_user, &s->srv_sys)) s->srv_user = s->srv_sys = -1;
    s->self_cpu = self_cpu_s();
}

static void add_sample(uint64_t ns) {
    if (g_nsamples == g_capsamples) {
        if (g_capsamples >= MAX_SAMPLES) return;
        g_capsamples = g_capsamples ? g_capsamples * 2 : 65536;
        g_samples = realloc(g_samples, g_capsamples * sizeof *g_samples);
        if (!g_samples) fail("out of memory for latency samples");
    }
    g_samples[g_nsamples++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(double q) {
    size_t i = (size_t)(q * (double)(g_nsamples - 1) + 0.5);
    return g_samples[i] / 1000.0;
}

/* ---------------------------------------------------------------- sockets */
static void ep_set(conn_t *c, int op, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g_ep, op, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
}

static int new_socket(void) {
    int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Starts a nonblocking connect; the connection completes on EPOLLOUT. */
static void open_conn(conn_t *c) {
    c->fd = new_socket();
    c->id = g_next_id++;
    c->tx = c->rx = 0;
    c->connecting = 1;
    if (connect(c->fd, (struct sockaddr *)&g_addr, g_addrlen) < 0 && errno != EINPROGRESS)
        fail("connect: %s", strerror(errno));
    c->out_armed = 1;
    ep_set(c, EPOLL_CTL_ADD, EPOLLOUT);
}

static void finish_connect(conn_t *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) fail("connect: %s", strerror(err));
    c->connecting = 0;
}

/* How far this connection may send: DEPTH messages beyond the last one echoed
 * (pingpong runs with DEPTH 1); nothing new once stopping, except that a
 * connect-mode connection always sends its one message. */
static uint64_t tx_allowed(const conn_t *c) {
    if (g_mode == M_CONNECT) return g_size; /* a started connection always finishes */
    if (g_stopping) return c->tx;
    return (c->rx / g_size + g_depth) * g_size;
}

static void pump_send(conn_t *c) {
    uint64_t limit = tx_allowed(c);
    while (c->tx < limit) {
        uint64_t n = limit - c->tx;
        if (n > MAXTX) n = MAXTX;
        uint64_t now = mono_ns();
        ssize_t w = send(c->fd, pat_at(c->id, c->tx), (size_t)n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            fail("send: %s", strerror(errno));
        }
        /* Stamp every message whose first byte went out in this send. */
        uint64_t first = (c->tx + g_size - 1) / g_size, end = (c->tx + (uint64_t)w - 1) / g_size;
        for (uint64_t m = first; m <= end; m++) c->sent_at[m % g_depth] = now;
        c->tx += (uint64_t)w;
        t_tx += (uint64_t)w;
    }
    int want_out = c->tx < limit;
    if (want_out != c->out_armed) {
        c->out_armed = want_out;
        ep_set(c, EPOLL_CTL_MOD, EPOLLIN | (want_out ? EPOLLOUT : 0));
    }
}

/* One recv per readiness event (level-triggered: more data re-fires). Returns
 * 1 if the connection finished its work (connect mode). */
static int on_readable(conn_t *c) {
    ssize_t r = recv(c->fd, g_rxbuf, RXBUF, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        fail("recv: %s (conn %u, after %llu of %llu bytes echoed)", strerror(errno), c->id,
             (unsigned long long)c->rx, (unsigned long long)c->tx);
    }
    if (r == 0)
        fail("server closed conn %u after echoing %llu of %llu bytes", c->id, (unsigned long long)c->rx,
             (unsigned long long)c->tx);
    uint64_t n = (uint64_t)r;
    if (c->rx + n > c->tx)
        fail("conn %u: server sent %llu bytes more than it was sent", c->id,
             (unsigned long long)(c->rx + n - c->tx));
    if (memcmp(g_rxbuf, pat_at(c->id, c->rx), (size_t)n) != 0) {
        uint64_t i = 0;
        const unsigned char *want = pat_at(c->id, c->rx);
        while (i < n && g_rxbuf[i] == want[i]) i++;
        fail("conn %u: echoed byte %llu is 0x%02x, expected 0x%02x", c->id, (unsigned long long)(c->rx + i),
             g_rxbuf[i], want[i]);
    }
    uint64_t now = mono_ns();
    g_now = g_last_progress = now;
    uint64_t done_before = c->rx / g_size;
    c->rx += n;
    t_rx += n;
    uint64_t done_after = c->rx / g_size;
    for (uint64_t m = done_before; m < done_after; m++) {
        t_msgs++;
        if (g_measuring) add_sample(now - c->sent_at[m % g_depth]);
    }
    if (g_mode == M_CONNECT && c->rx == g_size) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        t_conns++;
        return 1;
    }
    pump_send(c);
    return 0;
}

static void on_event(conn_t *c, uint32_t events) {
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        finish_connect(c);
        c->out_armed = 0;
        ep_set(c, EPOLL_CTL_MOD, EPOLLIN);
        pump_send(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (on_readable(c)) {
            if (!g_stopping) open_conn(c);
            return;
        }
    }
    if (events & EPOLLOUT) pump_send(c);
}

static int all_drained(void) {
    for (int i = 0; i < g_nconns; i++) {
        conn_t *c = &g_conns[i];
        if (c->fd >= 0 && (c->connecting || c->rx < c->tx || (g_mode == M_CONNECT && c->rx < g_size)))
            return 0;
    }
    return 1;
}

static void run_loop(uint64_t until, int drain) {
    struct epoll_event evs[256];
    for (;;) {
        g_now = mono_ns();
        if (drain ? all_drained() : g_now >= until) return;
        if (g_now - g_last_progress > PROGRESS_LIMIT_NS)
            fail("no echoed byte for %.0f s", PROGRESS_LIMIT_NS / 1e9);
        int timeout = 100;
        if (!drain) {
            uint64_t left_ms = (until - g_now) / 1000000ull;
            if (left_ms < (uint64_t)timeout) timeout = (int)left_ms;
        }
        int n = epoll_wait(g_ep, evs, 256, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
}

/* ---------------------------------------------------------------- main */
static void usage(void) {
    fprintf(stderr,
            "usage: loadgen HOST PORT MODE CONNS SIZE DEPTH DURATION WARMUP [--server-pid PID]\n"
            "  MODE: pingpong | pipeline | bulk | connect; HOST: 127.0.0.1 or ::1 (loopback only)\n");
    exit(64);
}

static int is_loopback(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 9) usage();
    g_host = argv[1];
    g_port = atoi(argv[2]);
    for (int i = 0; i < 4; i++)
        if (strcmp(argv[3], mode_names[i]) == 0) g_mode = i;
    g_nconns = atoi(argv[4]);
    g_size = strtoull(argv[5], NULL, 10);
    g_depth = strtoull(argv[6], NULL, 10);
    g_duration = atof(argv[7]);
    g_warmup = atof(argv[8]);
    for (int i = 9; i < argc; i++) {
        if (strcmp(argv[i], "--server-pid") == 0 && i + 1 < argc) g_server_pid = atoi(argv[++i]);
        else usage();
    }
    if (g_mode < 0 || g_port <= 0 || g_port > 65535 || g_nconns <= 0 || g_nconns > 10000 || g_size == 0 ||
        g_size > MAX_SIZE || g_depth == 0 || g_depth > 100000 || !(g_duration > 0) || g_duration > 3600 ||
        g_warmup < 0 || g_warmup > 3600)
        usage();
    if (g_mode == M_PINGPONG) g_nconns = 1;
    if (g_mode == M_PINGPONG || g_mode == M_CONNECT) g_depth = 1;

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(g_host, argv[2], &hints, &res) != 0 || !res) {
        fprintf(stderr, "loadgen: HOST must be a numeric loopback address (127.0.0.1 or ::1)\n");
        exit(64);
    }
    memcpy(&g_addr, res->ai_addr, res->ai_addrlen);
    g_addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (!is_loopback(&g_addr)) {
        fprintf(stderr, "loadgen: refusing non-loopback destination %s\n", g_host);
        exit(64);
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    size_t plen = PERIOD + (RXBUF > MAXTX ? RXBUF : MAXTX);
    pattern = malloc(plen);
    g_rxbuf = malloc(RXBUF);
    g_conns = calloc((size_t)g_nconns, sizeof *g_conns);
    if (!pattern || !g_rxbuf || !g_conns) fail("out of memory");
    uint32_t x = 2463534242u; /* xorshift32: any fixed sequence will do */
    for (size_t i = 0; i < PERIOD; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        pattern[i] = (unsigned char)(x >> 24);
    }
    for (size_t i = PERIOD; i < plen; i++) pattern[i] = pattern[i - PERIOD];

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) fail("epoll_create1: %s", strerror(errno));

    /* Connect everyone (connect mode connects continuously instead). */
    set_phase("connect", 10);
    g_now = g_last_progress = mono_ns();
    for (int i = 0; i < g_nconns; i++) {
        g_conns[i].sent_at = calloc(g_depth, sizeof(uint64_t));
        if (!g_conns[i].sent_at) fail("out of memory");
        open_conn(&g_conns[i]);
    }
    if (g_mode != M_CONNECT) {
        struct epoll_event evs[256];
        int pending = g_nconns;
        while (pending > 0) {
            int n = epoll_wait(g_ep, evs, 256, 1000);
            if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
            for (int i = 0; i < n; i++) {
                conn_t *c = evs[i].data.ptr;
                if (!c->connecting) continue;
                finish_connect(c);
                c->out_armed = 0;
                ep_set(c, EPOLL_CTL_MOD, EPOLLIN);
                pending--;
            }
        }
    }

    /* Warm up, then measure. */
    unsigned run_budget = (unsigned)(g_warmup + g_duration) + 10;
    set_phase("run", run_budget);
    uint64_t t_start = mono_ns();
    g_last_progress = t_start;
    if (g_mode != M_CONNECT)
        for (int i = 0; i < g_nconns; i++) pump_send(&g_conns[i]);
    run_loop(t_start + (uint64_t)(g_warmup * 1e9), 0);

    snap_t s0, s1;
    take_snap(&s0);
    g_measuring = 1;
    run_loop(s0.t + (uint64_t)(g_duration * 1e9), 0);
    g_measuring = 0;
    take_snap(&s1);

    /* Drain: stop sending, read back (and verify) everything in flight. */
    set_phase("drain", 10);
    g_stopping = 1;
    g_last_progress = mono_ns();
    run_loop(0, 1);
    set_phase("close", 5);
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i].fd >= 0) close(g_conns[i].fd);
    alarm(0);

    double el = (double)(s1.t - s0.t) / 1e9;
    uint64_t msgs = s1.msgs - s0.msgs, rx = s1.rx - s0.rx, tx = s1.tx - s0.tx;
    printf("{\"tool\":\"gale-loadgen\",\"ok\":true,\"error\":null,\"host\":");
    json_str(stdout, g_host);
    printf(",\"port\":%d,\"mode\":\"%s\",\"conns\":%d,\"size\":%llu,\"depth\":%llu", g_port, mode_names[g_mode],
           g_nconns, (unsigned long long)g_size, (unsigned long long)g_depth);
    printf(",\"duration_s\":%.3f,\"warmup_s\":%.3f,\"elapsed_s\":%.4f", g_duration, g_warmup, el);
    printf(",\"msgs\":%llu,\"msgs_per_s\":%.1f", (unsigned long long)msgs, msgs / el);
    printf(",\"tx_bytes\":%llu,\"rx_bytes\":%llu,\"tx_MBps\":%.2f,\"rx_MBps\":%.2f", (unsigned long long)tx,
           (unsigned long long)rx, tx / el / 1e6, rx / el / 1e6);
    if (g_mode == M_CONNECT)
        printf(",\"connections\":%llu,\"conns_per_s\":%.1f", (unsigned long long)(s1.conns - s0.conns),
               (s1.conns - s0.conns) / el);
    if (g_nsamples) {
        qsort(g_samples, g_nsamples, sizeof *g_samples, cmp_u32);
        double sum = 0;
        for (size_t i = 0; i < g_nsamples; i++) sum += g_samples[i];
        printf(",\"lat_us\":{\"n\":%zu,\"min\":%.2f,\"mean\":%.2f,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
               "\"p999\":%.2f,\"max\":%.2f}",
               g_nsamples, g_samples[0] / 1000.0, sum / (double)g_nsamples / 1000.0, pct_us(0.50), pct_us(0.90),
               pct_us(0.99), pct_us(0.999), g_samples[g_nsamples - 1] / 1000.0);
    }
    printf(",\"client_cpu_pct\":%.1f", 100.0 * (s1.self_cpu - s0.self_cpu) / el);
    if (g_server_pid > 0) {
        printf(",\"server_pid\":%d", g_server_pid);
        if (s0.srv_user >= 0 && s1.srv_user >= s0.srv_user && s1.srv_sys >= s0.srv_sys) {
            double tick = (double)sysconf(_SC_CLK_TCK);
            double user = (double)(s1.srv_user - s0.srv_user) / tick, sys = (double)(s1.srv_sys - s0.srv_sys) / tick;
            printf(",\"server_cpu_s\":%.4f,\"server_cpu_pct\":%.1f,\"server_user_s\":%.4f,\"server_sys_s\":%.4f",
                   user + sys, 100.0 * (user + sys) / el, user, sys);
        }
    }
    printf("}\n");
    fflush(stdout);
    return 0;
}
