// loadgen: a single-threaded epoll load generator for the tcp-echo benchmarks.
//
// Modes (all verify every echoed byte against what was sent; a mismatch exits 1):
//   bulk      N connections, each keeps writing --size byte writes (at most --window
//             bytes in flight) and reads the echo back; reports echoed bytes/s.
//   pingpong  N connections, each sends one --size byte message, waits for its full
//             echo, sends the next; reports round trips/s and latency percentiles.
//   churn     N concurrent slots, each: connect, send --size bytes, read the echo,
//             shut down its sending side, read EOF, close, start again; reports conns/s.
//   idle      open N connections, echo --size bytes on each, print "READY n" on stdout,
//             wait for a line (or EOF) on stdin, echo once more on each, close all.
// During bulk, --scrape-port makes it GET --scrape-path every --scrape-interval-ms and
// report the scrape latency (each scrape: connect, request, read to EOF, check 200).
//
// Each mode runs --warmup seconds unmeasured, then --duration seconds measured, then
// stops starting new work and waits (bounded) for every byte in flight to come back.
// Everything is bounded by --timeout. Only loopback (127.0.0.0/8) targets are accepted.
// The result is one JSON object on stdout. Exit: 0 ok, 1 echo mismatch, 2 usage, 3 error.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#define PATLEN 65521u          /* prime: a shifted or reordered stream never lines up again */
#define MAXW (1u << 20)        /* largest write size */
#define RBUF (256u * 1024u)
#define MAXEV 512

enum mode { BULK, PINGPONG, CHURN, IDLE };
enum kind { ECHO_CONN, SCRAPE_CONN, STDIN_CONN };
enum state { CONNECTING, RUNNING, WAIT_EOF, DONE_STATE, IDLE_STATE };

typedef struct conn {
  int kind;
  int fd;
  int state;
  uint32_t base;        /* pattern offset of this stream */
  uint64_t sent;        /* bytes written */
  uint64_t recvd;       /* bytes read back and verified */
  uint64_t target;      /* idle/churn/pingpong: bytes to send in the current exchange */
  uint64_t wleft;       /* bytes left of the current write */
  uint64_t t_start;     /* ping-pong: when the current message was sent; churn/scrape: connect start */
  /* scrape response */
  char *resp;
  size_t resp_len, resp_cap;
} conn_t;

#define MAXPIDS 64
static struct {
  int mode;
  struct sockaddr_in addr;
  int conns;
  uint64_t size;
  uint64_t window;
  double duration, warmup, timeout;
  int server_pids[MAXPIDS]; /* the server's processes (a primary and its workers): CPU is summed */
  int n_server_pids;
  int scrape_port;
  double scrape_interval_ms;
  const char *scrape_path;
  const char *scrape_expect;
  int connect_batch;
} opt = {
    .conns = 1, .size = 65536, .window = 0, .duration = 5, .warmup = 1, .timeout = 0,
    .n_server_pids = 0, .scrape_port = 0, .scrape_interval_ms = 1000, .scrape_path = "/metrics",
    .scrape_expect = "echo_received_bytes_total", .connect_batch = 64,
};

static uint8_t pat[PATLEN + MAXW];
static uint8_t rbuf[RBUF];
static int ep;
static uint64_t t_begin, t_meas0, t_meas1, t_deadline;
static int phase; /* 0 warmup, 1 measuring, 2 draining */

/* results */
static uint64_t bytes_measured, ops_measured, ops_total, mismatches, errors, bytes_total;
static uint64_t lat_max, lat_sum;
static char first_error[256];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail_usage(const char *msg) {
  fprintf(stderr, "loadgen: %s\n", msg);
  exit(2);
}

static void note_error(const char *fmt, ...) {
  errors++;
  if (first_error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_error, sizeof first_error, fmt, ap);
  va_end(ap);
}

/* ---------- latency histogram: log-linear, < 0.8% relative error ---------- */
#define SUB_BITS 8
#define SUB (1u << SUB_BITS)
#define HALF (SUB / 2)
#define NBUCKETS (SUB + 60 * HALF)
static uint64_t hist[NBUCKETS];
static uint64_t hist_n;

static unsigned bucket_of(uint64_t v) {
  if (v < SUB) return (unsigned)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = e - (SUB_BITS - 1);
  unsigned m = (unsigned)(v >> shift);
  unsigned idx = SUB + (shift - 1) * HALF + (m - HALF);
  return idx < NBUCKETS ? idx : NBUCKETS - 1;
}
static uint64_t bucket_value(unsigned idx) {
  if (idx < SUB) return idx;
  unsigned shift = (idx - SUB) / HALF + 1;
  uint64_t m = (idx - SUB) % HALF + HALF;
  return (m << shift) + ((1ull << shift) >> 1);
}
static void hist_add(uint64_t v) {
  hist[bucket_of(v)]++;
  hist_n++;
  lat_sum += v;
  if (v > lat_max) lat_max = v;
}
static uint64_t hist_pct(double p) {
  if (hist_n == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)hist_n + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t acc = 0;
  for (unsigned i = 0; i < NBUCKETS; i++) {
    acc += hist[i];
    if (acc >= rank) {
      uint64_t v = bucket_value(i);
      return v > lat_max ? lat_max : v;
    }
  }
  return lat_max;
}

/* ---------- scrape latency: few samples, kept exactly ---------- */
#define MAXSCRAPES 100000
static uint64_t scrape_lat[MAXSCRAPES];
static uint64_t scrapes_ok, scrapes_failed, scrapes_skipped;
static conn_t *scrape_conn;
static uint64_t next_scrape;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static uint64_t exact_pct(uint64_t *v, uint64_t n, double p) {
  if (n == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}

/* ---------- CPU accounting ---------- */
static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}
static double proc_cpu(int pid) {
  if (pid <= 0) return -1;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may contain spaces */
  if (!p) return -1;
  unsigned long utime = 0, stime = 0;
  /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}
/* CPU seconds of every server process, or -1 if one cannot be read (it exited: a worker replaced). */
static double server_cpu(void) {
  if (opt.n_server_pids == 0) return -1;
  double total = 0;
  for (int i = 0; i < opt.n_server_pids; i++) {
    double c = proc_cpu(opt.server_pids[i]);
    if (c < 0) return -1;
    total += c;
  }
  return total;
}
static double cpu_self0, cpu_self1, cpu_srv0, cpu_srv1;

/* Busy fraction of each CPU (all processes, softirq included) from /proc/stat. */
#define MAXCPU 64
static int ncpu_stat;
static unsigned long long cpu_busy0[MAXCPU], cpu_total0[MAXCPU], cpu_busy1[MAXCPU], cpu_total1[MAXCPU];
static unsigned long long cpu_irq0[MAXCPU], cpu_irq1[MAXCPU];
static void read_cpu_stat(unsigned long long *busy, unsigned long long *total, unsigned long long *irq) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    int id;
    unsigned long long v[10] = {0};
    if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
    if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &id, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 9) continue;
    if (id < 0 || id >= MAXCPU) continue;
    unsigned long long idle = v[3] + v[4];
    unsigned long long all = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    busy[id] = all - idle;
    total[id] = all;
    irq[id] = v[5] + v[6];
    if (id + 1 > n) n = id + 1;
  }
  fclose(f);
  if (n > ncpu_stat) ncpu_stat = n;
}

/* ---------- pattern ---------- */
static void init_pattern(void) {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (uint32_t i = 0; i < PATLEN; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    pat[i] = (uint8_t)(x >> 24);
  }
  for (uint32_t i = 0; i < MAXW; i++) pat[PATLEN + i] = pat[i % PATLEN];
}
static inline const uint8_t *pat_at(const conn_t *c, uint64_t pos) {
  return pat + (uint32_t)((c->base + pos) % PATLEN);
}
static int verify(const conn_t *c, uint64_t pos, const uint8_t *data, size_t n) {
  while (n > 0) {
    uint32_t off = (uint32_t)((c->base + pos) % PATLEN);
    size_t k = n < (size_t)(PATLEN + MAXW - off) ? n : (size_t)(PATLEN + MAXW - off);
    if (memcmp(pat + off, data, k) != 0) return 0;
    pos += k; data += k; n -= k;
  }
  return 1;
}

/* ---------- sockets ---------- */
static conn_t *conn_new(int kind) {
  conn_t *c = calloc(1, sizeof *c);
  if (!c) { perror("calloc"); exit(3); }
  c->kind = kind;
  c->fd = -1;
  return c;
}

static int open_socket(conn_t *c, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { note_error("socket: %s", strerror(errno)); return -1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = opt.addr;
  a.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    note_error("connect: %s", strerror(errno));
    close(fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { note_error("epoll_ctl: %s", strerror(errno)); close(fd); return -1; }
  c->fd = fd;
  c->state = CONNECTING;
  return 0;
}

static void conn_close(conn_t *c) {
  if (c->fd >= 0) close(c->fd); /* close() also removes it from the epoll set */
  c->fd = -1;
  c->state = DONE_STATE;
}

static int connected_ok(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) { note_error("connect: %s", strerror(err)); return 0; }
  return 1;
}

/* Writes until the current exchange's target is sent or the socket is full. -1 on error. */
static int pump_write(conn_t *c) {
  while (c->sent < c->target) {
    uint64_t len = c->target - c->sent;
    if (len > opt.size) len = opt.size;
    ssize_t n = write(c->fd, pat_at(c, c->sent), len);
    if (n > 0) { c->sent += (uint64_t)n; continue; }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0 && errno == EINTR) continue;
    note_error("write: %s", n < 0 ? strerror(errno) : "0 bytes");
    return -1;
  }
  return 0;
}

/* Reads what is there and verifies it. Returns 1 at EOF, 0 when drained, -1 on error/mismatch. */
static int pump_read(conn_t *c, uint64_t *got, uint32_t events) {
  *got = 0;
  for (;;) {
    ssize_t n = read(c->fd, rbuf, RBUF);
    if (n > 0) {
      if (c->recvd + (uint64_t)n > c->sent) {
        mismatches++;
        note_error("received %llu bytes more than were sent", (unsigned long long)(c->recvd + (uint64_t)n - c->sent));
        return -1;
      }
      if (!verify(c, c->recvd, rbuf, (size_t)n)) {
        mismatches++;
        note_error("echoed bytes differ from the bytes sent (stream offset %llu)", (unsigned long long)c->recvd);
        return -1;
      }
      c->recvd += (uint64_t)n;
      bytes_total += (uint64_t)n;
      *got += (uint64_t)n;
      /* A short read emptied the socket: with edge-triggered epoll, data or a FIN that
         arrives from now on raises a new event, so no extra read() to see EAGAIN (unless
         the event already said the peer hung up: then read on to the EOF). */
      if ((size_t)n < RBUF && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return 0;
      continue;
    }
    if (n == 0) return 1;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EINTR) continue;
    note_error("read: %s", strerror(errno));
    return -1;
  }
}

/* ---------- bulk ---------- */
static void bulk_fill(conn_t *c) {
  /* The next write starts only when a whole --size write fits in the window. */
  if (phase < 2) {
    while (c->target - c->recvd + opt.size <= opt.window) c->target += opt.size;
  }
}

static void bulk_event(conn_t *c, uint32_t events) {
  if (c->state == CONNECTING) {
    if (!connected_ok(c)) { conn_close(c); return; }
    c->state = RUNNING;
  }
  uint64_t got;
  int r = pump_read(c, &got, events);
  if (phase == 1) bytes_measured += got;
  if (r != 0) {
    if (r == 1) note_error("server closed a bulk connection");
    conn_close(c);
    return;
  }
  if (events & EPOLLERR) { note_error("socket error"); conn_close(c); return; }
  bulk_fill(c);
  if (pump_write(c) < 0) conn_close(c);
}

/* ---------- ping-pong ---------- */
static void pp_send(conn_t *c, uint64_t t) {
  c->target += opt.size;
  c->t_start = t;
  if (pump_write(c) < 0) conn_close(c);
}

static void pp_event(conn_t *c, uint32_t events, uint64_t t) {
  if (c->state == CONNECTING) {
    if (!connected_ok(c)) { conn_close(c); return; }
    c->state = RUNNING;
    pp_send(c, t);
    if (c->fd < 0) return;
  }
  uint64_t got;
  int r = pump_read(c, &got, events);
  if (r != 0) {
    if (r == 1) note_error("server closed a ping-pong connection");
    conn_close(c);
    return;
  }
  if (events & EPOLLERR) { note_error("socket error"); conn_close(c); return; }
  if (c->recvd == c->target && c->sent == c->target && c->target > 0 && c->t_start) {
    uint64_t tn = now_ns();
    ops_total++;
    if (phase == 1 && c->t_start >= t_meas0) {
      ops_measured++;
      hist_add(tn - c->t_start);
    }
    c->t_start = 0;
    if (phase < 2) pp_send(c, tn);
    return;
  }
  if (pump_write(c) < 0) conn_close(c);
}

/* ---------- churn ---------- */
static uint64_t churn_seq;
static int churn_start(conn_t *c) {
  c->base = (uint32_t)((churn_seq++ * 7919u) % PATLEN);
  c->sent = c->recvd = c->wleft = 0;
  c->target = opt.size;
  c->t_start = now_ns();
  return open_socket(c, ntohs(opt.addr.sin_port));
}

static void churn_event(conn_t *c, uint32_t events) {
  if (c->state == CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (!connected_ok(c)) { conn_close(c); return; }
    c->state = RUNNING;
  }
  if (c->state == RUNNING) {
    if (pump_write(c) < 0) { conn_close(c); return; }
    uint64_t got;
    int r = pump_read(c, &got, events);
    if (r < 0) { conn_close(c); return; }
    if (r == 1) { note_error("server closed before echoing everything"); conn_close(c); return; }
    if (c->recvd == c->target) {
      shutdown(c->fd, SHUT_WR);
      c->state = WAIT_EOF;
    } else {
      return;
    }
  }
  if (c->state == WAIT_EOF) {
    uint64_t got;
    int r = pump_read(c, &got, events);
    if (r == 0) return;
    if (r < 0) { conn_close(c); return; }
    /* EOF: the whole connection life is done */
    conn_close(c);
    ops_total++;
    if (phase == 1) {
      ops_measured++;
      hist_add(now_ns() - c->t_start);
    }
    if (phase < 2) churn_start(c);
  }
}

/* ---------- idle ---------- */
static int idle_opened, idle_connecting, idle_next, idle_ready_printed, idle_released, idle_done;
static conn_t **idle_conns;

static void idle_open_more(void) {
  while (idle_next < opt.conns && idle_connecting < opt.connect_batch && !idle_released) {
    conn_t *c = idle_conns[idle_next];
    c->base = (uint32_t)(((uint64_t)idle_next * 7919u) % PATLEN);
    c->target = opt.size;
    if (open_socket(c, ntohs(opt.addr.sin_port)) < 0) { idle_next = opt.conns; return; }
    idle_next++;
    idle_connecting++;
  }
}

static void idle_event(conn_t *c, uint32_t events) {
  if (c->state == CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (!connected_ok(c)) { conn_close(c); idle_connecting--; return; }
    c->state = RUNNING;
  }
  if (c->state == RUNNING) {
    if (pump_write(c) < 0) { conn_close(c); return; }
    uint64_t got;
    int r = pump_read(c, &got, events);
    if (r != 0) {
      if (r == 1) note_error("server closed an idle connection");
      conn_close(c);
      return;
    }
    if (c->recvd == c->target) {
      c->state = IDLE_STATE;
      if (!idle_released) {
        idle_connecting--;
        idle_opened++;
      } else {
        idle_done++;
      }
    }
    return;
  }
  if (c->state == IDLE_STATE) {
    /* nothing is expected on an idle connection */
    uint64_t got;
    int r = pump_read(c, &got, events);
    if (r != 0 || got) {
      note_error("unexpected %s on an idle connection", r == 1 ? "EOF" : "data");
      conn_close(c);
    }
  }
}

static void idle_release(void) {
  /* Second round: every connection must still echo. */
  idle_released = 1;
  for (int i = 0; i < idle_next; i++) {
    conn_t *c = idle_conns[i];
    if (c->fd < 0 || c->state != IDLE_STATE) continue;
    c->state = RUNNING;
    c->target += opt.size;
    if (pump_write(c) < 0) conn_close(c);
  }
}

/* ---------- scrape ---------- */
static void scrape_start(uint64_t t) {
  conn_t *c = scrape_conn;
  c->resp_len = 0;
  c->t_start = t;
  if (open_socket(c, opt.scrape_port) < 0) { scrapes_failed++; c->fd = -1; }
}

static void scrape_finish(conn_t *c, int ok, const char *why) {
  uint64_t t = now_ns();
  conn_close(c);
  if (ok && c->resp_len >= 12 && memcmp(c->resp, "HTTP/1.1 200", 12) == 0 && memmem(c->resp, c->resp_len, opt.scrape_expect, strlen(opt.scrape_expect))) {
    if (scrapes_ok < MAXSCRAPES) scrape_lat[scrapes_ok] = t - c->t_start;
    scrapes_ok++;
  } else {
    scrapes_failed++;
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "scrape failed: %s", ok ? "bad response" : why);
  }
}

static void scrape_event(conn_t *c, uint32_t events) {
  if (c->state == CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (!connected_ok(c)) { scrape_finish(c, 0, "connect"); return; }
    char req[512];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\nConnection: close\r\n\r\n", opt.scrape_path);
    if (write(c->fd, req, (size_t)len) != len) { scrape_finish(c, 0, "write"); return; }
    c->state = RUNNING;
  }
  for (;;) {
    if (c->resp_cap - c->resp_len < 65536) {
      if (c->resp_cap >= (8u << 20)) { scrape_finish(c, 0, "response too large"); return; }
      c->resp_cap = c->resp_cap ? c->resp_cap * 2 : 131072;
      c->resp = realloc(c->resp, c->resp_cap);
      if (!c->resp) { perror("realloc"); exit(3); }
    }
    ssize_t n = read(c->fd, c->resp + c->resp_len, c->resp_cap - c->resp_len);
    if (n > 0) { c->resp_len += (size_t)n; continue; }
    if (n == 0) { scrape_finish(c, 1, ""); return; }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR) continue;
    scrape_finish(c, 0, "read");
    return;
  }
}

/* ---------- main loop ---------- */
static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode bulk|pingpong|churn|idle --port N [--host 127.0.0.1] [--conns N] [--size BYTES]\n"
          "               [--window BYTES] [--duration S] [--warmup S] [--timeout S] [--server-pid PID[,PID...]]\n"
          "               [--scrape-port N --scrape-interval-ms MS --scrape-path P --scrape-expect TEXT]\n");
  exit(2);
}

static double parse_num(const char *s, const char *name) {
  char *end;
  double v = strtod(s, &end);
  if (!*s || *end || v < 0) { fprintf(stderr, "loadgen: bad %s: %s\n", name, s); exit(2); }
  return v;
}

static void parse_pids(const char *s) {
  char *copy = strdup(s), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (opt.n_server_pids == MAXPIDS) { fprintf(stderr, "loadgen: more than %d --server-pid values\n", MAXPIDS); exit(2); }
    opt.server_pids[opt.n_server_pids++] = (int)parse_num(tok, "--server-pid");
  }
  free(copy);
}
int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  const char *mode = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--mode")) mode = v;
    else if (!strcmp(a, "--host")) host = v;
    else if (!strcmp(a, "--port")) port = (int)parse_num(v, a);
    else if (!strcmp(a, "--conns")) opt.conns = (int)parse_num(v, a);
    else if (!strcmp(a, "--size")) opt.size = (uint64_t)parse_num(v, a);
    else if (!strcmp(a, "--window")) opt.window = (uint64_t)parse_num(v, a);
    else if (!strcmp(a, "--duration")) opt.duration = parse_num(v, a);
    else if (!strcmp(a, "--warmup")) opt.warmup = parse_num(v, a);
    else if (!strcmp(a, "--timeout")) opt.timeout = parse_num(v, a);
    else if (!strcmp(a, "--server-pid")) parse_pids(v);
    else if (!strcmp(a, "--scrape-port")) opt.scrape_port = (int)parse_num(v, a);
    else if (!strcmp(a, "--scrape-interval-ms")) opt.scrape_interval_ms = parse_num(v, a);
    else if (!strcmp(a, "--scrape-path")) opt.scrape_path = v;
    else if (!strcmp(a, "--scrape-expect")) opt.scrape_expect = v;
    else if (!strcmp(a, "--connect-batch")) opt.connect_batch = (int)parse_num(v, a);
    else usage();
  }
  if (!mode) usage();
  if (!strcmp(mode, "bulk")) opt.mode = BULK;
  else if (!strcmp(mode, "pingpong")) opt.mode = PINGPONG;
  else if (!strcmp(mode, "churn")) opt.mode = CHURN;
  else if (!strcmp(mode, "idle")) opt.mode = IDLE;
  else usage();
  if (port <= 0 || port > 65535) fail_usage("--port is required (1-65535)");
  if (opt.conns < 1 || opt.conns > 1000000) fail_usage("--conns must be 1..1000000");
  if (opt.size < 1 || opt.size > MAXW) fail_usage("--size must be 1..1048576");
  if (opt.window == 0) opt.window = opt.size * 4;
  if (opt.window < opt.size) fail_usage("--window must be at least --size");
  if (opt.connect_batch < 1) opt.connect_batch = 1;
  if (opt.timeout <= 0) opt.timeout = opt.warmup + opt.duration + 60;

  memset(&opt.addr, 0, sizeof opt.addr);
  opt.addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host, &opt.addr.sin_addr) != 1) fail_usage("--host must be an IPv4 address");
  if ((ntohl(opt.addr.sin_addr.s_addr) >> 24) != 127) fail_usage("--host must be a loopback address (127.0.0.0/8)");
  opt.addr.sin_port = htons((uint16_t)port);

  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  if (opt.mode == IDLE && (rlim_t)opt.conns + 32 > rl.rlim_cur) fail_usage("--conns is above this process's open-files limit");

  init_pattern();
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) { perror("epoll_create1"); return 3; }

  t_begin = now_ns();
  t_meas0 = t_begin + (uint64_t)(opt.warmup * 1e9);
  t_meas1 = t_meas0 + (uint64_t)(opt.duration * 1e9);
  t_deadline = t_begin + (uint64_t)(opt.timeout * 1e9);

  conn_t **conns = calloc((size_t)opt.conns, sizeof *conns);
  if (!conns) { perror("calloc"); return 3; }
  for (int i = 0; i < opt.conns; i++) {
    conns[i] = conn_new(ECHO_CONN);
    conns[i]->base = (uint32_t)(((uint64_t)i * 7919u) % PATLEN);
  }
  if (opt.mode == BULK || opt.mode == PINGPONG) {
    for (int i = 0; i < opt.conns; i++)
      if (open_socket(conns[i], port) < 0) break;
  } else if (opt.mode == CHURN) {
    for (int i = 0; i < opt.conns; i++)
      if (churn_start(conns[i]) < 0) break;
  } else {
    idle_conns = conns;
    idle_open_more();
  }
  conn_t stdin_conn = {.kind = STDIN_CONN, .fd = 0};
  if (opt.scrape_port) {
    if (opt.mode != BULK) fail_usage("--scrape-port only goes with --mode bulk");
    scrape_conn = conn_new(SCRAPE_CONN);
    scrape_conn->state = DONE_STATE;
  }

  struct epoll_event evs[MAXEV];
  uint64_t drain_start = 0, ready_at = 0;
  int exit_code = 0;
  const char *stop_reason = "done";
  for (;;) {
    uint64_t t = now_ns();
    if (t >= t_deadline) { note_error("timed out after %.0f s (phase %d)", opt.timeout, phase); stop_reason = "timeout"; break; }
    if (errors) { stop_reason = "error"; break; }

    if (opt.mode != IDLE) {
      if (phase == 0 && t >= t_meas0) {
        phase = 1;
        bytes_measured = ops_measured = 0;
        cpu_self0 = self_cpu();
        cpu_srv0 = server_cpu();
        read_cpu_stat(cpu_busy0, cpu_total0, cpu_irq0);
        t_meas0 = t;
        t_meas1 = t + (uint64_t)(opt.duration * 1e9);
        next_scrape = t;
      }
      if (phase == 1 && t >= t_meas1) {
        cpu_self1 = self_cpu();
        cpu_srv1 = server_cpu();
        read_cpu_stat(cpu_busy1, cpu_total1, cpu_irq1);
        t_meas1 = t;
        phase = 2;
        drain_start = t;
      }
      if (phase == 1 && scrape_conn && t >= next_scrape) {
        if (scrape_conn->fd >= 0) scrapes_skipped++;
        else scrape_start(t);
        next_scrape += (uint64_t)(opt.scrape_interval_ms * 1e6);
        if (next_scrape < t) next_scrape = t + (uint64_t)(opt.scrape_interval_ms * 1e6);
      }
      if (phase == 2) {
        /* Draining: done when every byte sent has come back. */
        int pending = 0;
        for (int i = 0; i < opt.conns; i++) {
          conn_t *c = conns[i];
          if (c->fd < 0) continue;
          if (opt.mode == CHURN) { pending = 1; break; }
          if (c->recvd != c->sent || c->sent != c->target) { pending = 1; break; }
        }
        if (scrape_conn && scrape_conn->fd >= 0) pending = 1;
        if (!pending) break;
        if (t - drain_start > 30000000000ull) { note_error("echo of the last bytes did not arrive within 30 s"); stop_reason = "drain timeout"; break; }
      }
    } else {
      idle_open_more();
      if (!idle_ready_printed && idle_opened == opt.conns) {
        idle_ready_printed = 1;
        ready_at = t;
        printf("READY %d %.3f\n", idle_opened, (t - t_begin) / 1e9);
        fflush(stdout);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_conn};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) idle_release(); /* stdin not pollable: go on at once */
      }
      if (idle_released && idle_done == idle_opened) break;
    }

    int timeout_ms = 5;
    int n = epoll_wait(ep, evs, MAXEV, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 3;
    }
    uint64_t te = now_ns();
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      uint32_t e = evs[i].events;
      if (c->kind == SCRAPE_CONN) { if (c->fd >= 0) scrape_event(c, e); continue; }
      if (c->kind == STDIN_CONN) {
        char line[256];
        (void)!read(0, line, sizeof line);
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        idle_release();
        continue;
      }
      if (c->fd < 0) continue;
      switch (opt.mode) {
        case BULK: bulk_event(c, e); break;
        case PINGPONG: pp_event(c, e, te); break;
        case CHURN: churn_event(c, e); break;
        case IDLE: idle_event(c, e); break;
      }
    }
  }

  /* totals must match: every byte sent came back */
  uint64_t sent = 0, recvd = 0;
  for (int i = 0; i < opt.conns; i++) {
    sent += conns[i]->sent;
    recvd += conns[i]->recvd;
  }
  if (opt.mode != CHURN && !errors && sent != recvd) {
    mismatches++;
    note_error("sent %llu bytes, %llu came back", (unsigned long long)sent, (unsigned long long)recvd);
  }
  for (int i = 0; i < opt.conns; i++) conn_close(conns[i]);

  double wall = (t_meas1 > t_meas0 && phase == 2) ? (t_meas1 - t_meas0) / 1e9 : 0;
  printf("{\"mode\":\"%s\",\"conns\":%d,\"size\":%llu,\"window\":%llu,\"ok\":%s,\"stop\":\"%s\",\"errors\":%llu,\"mismatches\":%llu",
         mode, opt.conns, (unsigned long long)opt.size, (unsigned long long)opt.window, (!errors && !mismatches) ? "true" : "false",
         stop_reason, (unsigned long long)errors, (unsigned long long)mismatches);
  if (first_error[0]) {
    printf(",\"error\":\"");
    for (const char *p = first_error; *p; p++) putchar(*p == '"' || *p == '\\' ? '\'' : *p);
    printf("\"");
  }
  if (opt.mode != IDLE) {
    printf(",\"seconds\":%.4f,\"bytes\":%llu,\"ops\":%llu,\"bytesPerSec\":%.1f,\"opsPerSec\":%.1f",
           wall, (unsigned long long)bytes_measured, (unsigned long long)ops_measured,
           wall > 0 ? bytes_measured / wall : 0, wall > 0 ? ops_measured / wall : 0);
    printf(",\"loadgenCpu\":%.4f", wall > 0 ? (cpu_self1 - cpu_self0) / wall : 0);
    if (cpu_srv0 >= 0 && cpu_srv1 >= 0) printf(",\"serverCpu\":%.4f", wall > 0 ? (cpu_srv1 - cpu_srv0) / wall : 0);
    printf(",\"cpuBusy\":[");
    for (int i = 0; i < ncpu_stat; i++) {
      unsigned long long dt = cpu_total1[i] - cpu_total0[i];
      printf("%s%.4f", i ? "," : "", dt ? (double)(cpu_busy1[i] - cpu_busy0[i]) / (double)dt : 0.0);
    }
    printf("],\"cpuIrq\":[");
    for (int i = 0; i < ncpu_stat; i++) {
      unsigned long long dt = cpu_total1[i] - cpu_total0[i];
      printf("%s%.4f", i ? "," : "", dt ? (double)(cpu_irq1[i] - cpu_irq0[i]) / (double)dt : 0.0);
    }
    printf("]");
    printf(",\"totalBytes\":%llu,\"totalOps\":%llu", (unsigned long long)recvd, (unsigned long long)ops_total);
  } else {
    printf(",\"opened\":%d,\"echoedTwice\":%d,\"openSeconds\":%.3f", idle_opened, idle_done, ready_at ? (ready_at - t_begin) / 1e9 : 0);
  }
  if (hist_n) {
    printf(",\"latencyUs\":{\"n\":%llu,\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f}", (unsigned long long)hist_n,
           lat_sum / 1e3 / hist_n, hist_pct(0.50) / 1e3, hist_pct(0.99) / 1e3, hist_pct(0.999) / 1e3, lat_max / 1e3);
  }
  if (scrape_conn) {
    uint64_t k = scrapes_ok < MAXSCRAPES ? scrapes_ok : MAXSCRAPES;
    qsort(scrape_lat, k, sizeof scrape_lat[0], cmp_u64);
    printf(",\"scrape\":{\"ok\":%llu,\"failed\":%llu,\"skipped\":%llu,\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f}", (unsigned long long)scrapes_ok,
           (unsigned long long)scrapes_failed, (unsigned long long)scrapes_skipped, exact_pct(scrape_lat, k, 0.5) / 1e6,
           exact_pct(scrape_lat, k, 0.99) / 1e6, k ? scrape_lat[k - 1] / 1e6 : 0);
    if (scrapes_failed) exit_code = 3;
  }
  printf("}\n");
  fflush(stdout);
  if (mismatches) return 1;
  if (errors) return 3;
  return exit_code;
}
