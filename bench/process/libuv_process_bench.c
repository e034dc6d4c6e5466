/* libuv_process_bench: the process benchmarks' libuv 1.44 baseline, written
 * the way a libuv user writes them (bench/process/run.sh runs it next to the
 * tokio and pollux versions, which take the same command line):
 *
 *   libuv_process_bench spawn TOTAL IN_FLIGHT
 *     spawns /bin/true TOTAL times, IN_FLIGHT at once (each exit callback
 *     closes its handle and spawns the next), no stdio; prints the
 *     processes per second.
 *   libuv_process_bench pipe BYTES
 *     spawns cat with its stdin and stdout on pipes, writes BYTES to its
 *     stdin (one uv_write of the whole buffer, then uv_shutdown), reads
 *     them back from its stdout (64 KiB reads, libuv's suggested size) and
 *     waits for its exit; prints the bytes per second through cat. Note
 *     that libuv makes UV_CREATE_PIPE stdio with socketpair(), not pipe():
 *     a Unix socket buffers more than a pipe's 64 KiB, so cat makes fewer
 *     round trips per byte than with a pipe.
 *
 * Output: one line, `<figure>`, the rate as a decimal number. Errors go to
 * stderr with exit status 1.
 *
 * Build: gcc -O2 libuv_process_bench.c -luv (bench/meson.build builds it when
 * libuv is found).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void check(int r, const char* what) {
    if (r < 0) {
        fprintf(stderr, "libuv_process_bench: %s: %s\n", what, uv_strerror(r));
        exit(1);
    }
}

/* ---- spawn ---- */

static long spawn_total;
static long spawn_started;
static long spawn_reaped;
static long spawn_failed;

static void spawn_one(uv_loop_t* loop);

static void on_closed(uv_handle_t* h) {
    free(h);
}

static void on_exit_spawn(uv_process_t* p, int64_t status, int sig) {
    if (status != 0 || sig != 0)
        spawn_failed++;
    spawn_reaped++;
    uv_close((uv_handle_t*)p, on_closed);
    if (spawn_started < spawn_total)
        spawn_one(p->loop);
}

static void spawn_one(uv_loop_t* loop) {
    static char* args[] = {"/bin/true", NULL};
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.file = args[0];
    opt.args = args;
    opt.exit_cb = on_exit_spawn;
    uv_process_t* p = malloc(sizeof *p);
    check(uv_spawn(loop, p, &opt), "uv_spawn");
    spawn_started++;
}

static int run_spawn(long total, long in_flight) {
    uv_loop_t* loop = uv_default_loop();
    spawn_total = total;
    uint64_t t0 = uv_hrtime();
    for (long i = 0; i < in_flight && spawn_started < total; i++)
        spawn_one(loop);
    uv_run(loop, UV_RUN_DEFAULT);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    if (spawn_reaped != total || spawn_failed != 0) {
        fprintf(
            stderr, "libuv_process_bench: %ld reaped, %ld failed\n", spawn_reaped, spawn_failed);
        return 1;
    }
    printf("%.1f\n", (double)total / secs);
    return 0;
}

/* ---- pipe ---- */

static uv_pipe_t to_cat;
static uv_pipe_t from_cat;
static uv_process_t cat_proc;
static uv_write_t write_req;
static uv_shutdown_t shutdown_req;
static char* out_buf;
static char read_buf[65536];
static long long pipe_read;
static int cat_status = -1;

static void alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
    (void)h;
    (void)suggested;
    buf->base = read_buf;
    buf->len = sizeof read_buf;
}

static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    (void)buf;
    if (n > 0) {
        pipe_read += n;
    } else if (n == UV_EOF) {
        uv_close((uv_handle_t*)s, NULL);
    } else if (n < 0) {
        check((int)n, "read");
    }
}

static void shutdown_cb(uv_shutdown_t* req, int status) {
    check(status, "shutdown");
    uv_close((uv_handle_t*)req->handle, NULL);
}

static void write_cb(uv_write_t* req, int status) {
    check(status, "write");
    check(uv_shutdown(&shutdown_req, req->handle, shutdown_cb), "uv_shutdown");
}

static void on_exit_cat(uv_process_t* p, int64_t status, int sig) {
    cat_status = (int)status + sig * 256;
    uv_close((uv_handle_t*)p, NULL);
}

static int run_pipe(long long bytes) {
    uv_loop_t* loop = uv_default_loop();
    out_buf = malloc((size_t)bytes);
    memset(out_buf, 'x', (size_t)bytes);
    uint64_t t0 = uv_hrtime();
    check(uv_pipe_init(loop, &to_cat, 0), "uv_pipe_init");
    check(uv_pipe_init(loop, &from_cat, 0), "uv_pipe_init");
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t*)&to_cat;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t*)&from_cat;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    static char* args[] = {"cat", NULL};
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.file = args[0];
    opt.args = args;
    opt.exit_cb = on_exit_cat;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    check(uv_spawn(loop, &cat_proc, &opt), "uv_spawn");
    check(uv_read_start((uv_stream_t*)&from_cat, alloc_cb, read_cb), "uv_read_start");
    uv_buf_t b = uv_buf_init(out_buf, (unsigned)bytes);
    check(uv_write(&write_req, (uv_stream_t*)&to_cat, &b, 1, write_cb), "uv_write");
    uv_run(loop, UV_RUN_DEFAULT);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    free(out_buf);
    if (pipe_read != bytes || cat_status != 0) {
        fprintf(stderr,
                "libuv_process_bench: read %lld of %lld bytes, cat status %d\n",
                pipe_read,
                bytes,
                cat_status);
        return 1;
    }
    printf("%.1f\n", (double)bytes / secs);
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 4 && strcmp(argv[1], "spawn") == 0)
        return run_spawn(atol(argv[2]), atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "pipe") == 0)
        return run_pipe(atoll(argv[2]));
    fprintf(stderr, "usage: %s spawn TOTAL IN_FLIGHT | pipe BYTES\n", argv[0]);
    return 2;
}
