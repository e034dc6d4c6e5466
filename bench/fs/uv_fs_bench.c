/* bench/fs/run.sh's libuv contender (Debian's libuv1-dev 1.44: its uv_fs_*
 * run on libuv's thread pool, UV_THREADPOOL_SIZE threads, default 4; 1.44
 * has no io_uring), one case per run:
 *   uv_fs_bench random FILE OPS INFLIGHT   4 KiB uv_fs_read at random offsets
 *   uv_fs_bench seq FILE                   the whole file, 1 MiB uv_fs_reads
 *   uv_fs_bench meta DIR COUNT INFLIGHT    uv_fs_open + uv_fs_fstat + uv_fs_close
 * Build: gcc -O2 bench/fs/uv_fs_bench.c -luv */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_loop_t* loop;
static uint64_t ops, issued, done, failed, blocks, count, inflight;
static uv_file file;
static const char* dir;

static uint64_t rng_next(uint64_t* s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

struct rd {
    uv_fs_t req;
    char buf[4096];
    uint64_t seed;
};

static void random_start(struct rd* r);

static void random_done(uv_fs_t* req) {
    struct rd* r = req->data;
    if (req->result != 4096) {
        ++failed;
    }
    uv_fs_req_cleanup(req);
    ++done;
    random_start(r);
}

static void random_start(struct rd* r) {
    if (issued == ops) {
        return;
    }
    ++issued;
    uv_buf_t b = uv_buf_init(r->buf, sizeof r->buf);
    int64_t off = (int64_t)((rng_next(&r->seed) % blocks) * 4096);
    r->req.data = r;
    if (uv_fs_read(loop, &r->req, file, &b, 1, off, random_done) != 0) {
        fprintf(stderr, "uv_fs_read refused\n");
        exit(1);
    }
}

static char* seq_buf;
static uint64_t seq_total;
static uv_fs_t seq_req;

static void seq_done(uv_fs_t* req) {
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n < 0) {
        fprintf(stderr, "read: %s\n", uv_strerror((int)n));
        exit(1);
    }
    if (n == 0) {
        return;
    }
    seq_total += (uint64_t)n;
    uv_buf_t b = uv_buf_init(seq_buf, 1 << 20);
    uv_fs_read(loop, &seq_req, file, &b, 1, (int64_t)seq_total, seq_done);
}

struct mt {
    uv_fs_t req;
    uint64_t k;
    uv_file fd;
    char path[4096];
};

static void meta_next(struct mt* m);

static void meta_closed(uv_fs_t* req) {
    struct mt* m = req->data;
    uv_fs_req_cleanup(req);
    ++done;
    m->k += inflight;
    meta_next(m);
}

static void meta_statted(uv_fs_t* req) {
    struct mt* m = req->data;
    if (req->result != 0) {
        ++failed;
    }
    uv_fs_req_cleanup(req);
    uv_fs_close(loop, &m->req, m->fd, meta_closed);
}

static void meta_opened(uv_fs_t* req) {
    struct mt* m = req->data;
    if (req->result < 0) {
        fprintf(stderr, "open %s: %s\n", m->path, uv_strerror((int)req->result));
        exit(1);
    }
    m->fd = (uv_file)req->result;
    uv_fs_req_cleanup(req);
    uv_fs_fstat(loop, &m->req, m->fd, meta_statted);
}

static void meta_next(struct mt* m) {
    if (m->k >= count) {
        return;
    }
    snprintf(m->path, sizeof m->path, "%s/%llu", dir, (unsigned long long)m->k);
    m->req.data = m;
    uv_fs_open(loop, &m->req, m->path, O_RDONLY, 0, meta_opened);
}

static int usage(void) {
    fprintf(stderr,
            "usage: uv_fs_bench random FILE OPS INFLIGHT | seq FILE | meta DIR COUNT INFLIGHT\n");
    return 2;
}

static uv_file open_file(const char* path) {
    uv_fs_t req;
    int fd = uv_fs_open(NULL, &req, path, O_RDONLY, 0, NULL);
    uv_fs_req_cleanup(&req);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, uv_strerror(fd));
        exit(1);
    }
    return fd;
}

int main(int argc, char** argv) {
    loop = uv_default_loop();
    const char* pool = getenv("UV_THREADPOOL_SIZE");
    if (argc == 5 && strcmp(argv[1], "random") == 0) {
        file = open_file(argv[2]);
        ops = strtoull(argv[3], NULL, 10);
        inflight = strtoull(argv[4], NULL, 10);
        uv_fs_t st;
        uv_fs_fstat(NULL, &st, file, NULL);
        blocks = st.statbuf.st_size / 4096;
        uv_fs_req_cleanup(&st);
        struct rd* rs = calloc(inflight, sizeof *rs);
        uint64_t t0 = uv_hrtime();
        for (uint64_t i = 0; i < inflight; ++i) {
            rs[i].seed = 0x9e3779b97f4a7c15ull ^ (i + 1);
            random_start(&rs[i]);
        }
        uv_run(loop, UV_RUN_DEFAULT);
        double s = (double)(uv_hrtime() - t0) / 1e9;
        printf("libuv   random: %llu reads of 4096 B, %llu in flight: %.0f ops/s "
               "(UV_THREADPOOL_SIZE=%s)%s\n",
               (unsigned long long)done,
               (unsigned long long)inflight,
               (double)done / s,
               pool ? pool : "4, the default",
               failed ? " (some reads failed or were short)" : "");
        free(rs);
    } else if (argc == 3 && strcmp(argv[1], "seq") == 0) {
        uint64_t t0 = uv_hrtime();
        file = open_file(argv[2]);
        seq_buf = malloc(1 << 20);
        uv_buf_t b = uv_buf_init(seq_buf, 1 << 20);
        uv_fs_read(loop, &seq_req, file, &b, 1, 0, seq_done);
        uv_run(loop, UV_RUN_DEFAULT);
        double s = (double)(uv_hrtime() - t0) / 1e9;
        printf("libuv   seq: %llu MiB in %.3f s: %.0f MiB/s\n",
               (unsigned long long)(seq_total >> 20),
               s,
               (double)(seq_total >> 20) / s);
        free(seq_buf);
    } else if (argc == 5 && strcmp(argv[1], "meta") == 0) {
        dir = argv[2];
        count = strtoull(argv[3], NULL, 10);
        inflight = strtoull(argv[4], NULL, 10);
        struct mt* ms = calloc(inflight, sizeof *ms);
        uint64_t t0 = uv_hrtime();
        for (uint64_t i = 0; i < inflight; ++i) {
            ms[i].k = i;
            meta_next(&ms[i]);
        }
        uv_run(loop, UV_RUN_DEFAULT);
        double s = (double)(uv_hrtime() - t0) / 1e9;
        printf("libuv   meta: %llu open+stat+close, %llu in flight: %.0f files/s "
               "(UV_THREADPOOL_SIZE=%s)%s\n",
               (unsigned long long)done,
               (unsigned long long)inflight,
               (double)done / s,
               pool ? pool : "4, the default",
               failed ? " (some failed)" : "");
        free(ms);
    } else {
        return usage();
    }
    return 0;
}
