// The kernel's cost of the ways to read a TLS record (1,046 bytes: a 1 KiB
// message's TLS 1.3 record) from a loopback TCP socket, per read:
//   0. recvfrom (Asio's and tokio's read);
//   1. recvfrom with TCP_INQ set on the socket (the option's own cost);
//   2. recvmsg with TCP_INQ's control message (pollux's TcpStream read,
//      lib/detail/tcp_inq.hpp: the count of bytes left says "drained");
//   3. recvfrom, then the recvfrom that says EAGAIN (what a reader without
//      TCP_INQ makes to learn the same).
// Each iteration sends one record-sized message and reads it; the modes
// alternate in blocks so the machine's load falls on all alike, and the
// medians (and minima) of the blocks' CPU time per iteration
// (CLOCK_PROCESS_CPUTIME_ID) are printed: differences between the modes are
// differences between the reads. docs/performance.md ("TLS echo") has the
// figures.
//
//   g++ -std=c++20 -O2 bench/tls/recv_cost.cpp -o /tmp/recv_cost
//   taskset -c 1 /tmp/recv_cost 10000 41     # iterations per block, blocks
#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

static double cpu_now() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char** argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 20000, blocks = argc > 2 ? atoi(argv[2]) : 15;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(l, (sockaddr*)&a, sizeof a);
    listen(l, 1);
    getsockname(l, (sockaddr*)&a, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (sockaddr*)&a, sizeof a);
    int s = accept(l, nullptr, nullptr);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static char msg[1046], buf[17408];
    const char* names[] = {"recvfrom (no TCP_INQ)",
                           "recvfrom (TCP_INQ on)",
                           "recvmsg + TCP_INQ cmsg",
                           "recvfrom + EAGAIN recvfrom"};
    std::vector<double> t[4];
    for (int b = 0; b < blocks; ++b) {
        for (int mode = 0; mode < 4; ++mode) {
            int inq = mode == 1 || mode == 2;
            setsockopt(s, IPPROTO_TCP, TCP_INQ, &inq, sizeof inq);
            double t0 = cpu_now();
            for (int i = 0; i < iters; ++i) {
                send(c, msg, sizeof msg, 0);
                ssize_t n;
                if (mode != 2) {
                    n = recvfrom(s, buf, sizeof buf, 0, nullptr, nullptr);
                    if (mode == 3 &&
                        recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, nullptr, nullptr) != -1)
                        return 2;
                } else {
                    iovec iov{buf, sizeof buf};
                    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
                    msghdr m{};
                    m.msg_iov = &iov;
                    m.msg_iovlen = 1;
                    m.msg_control = cbuf;
                    m.msg_controllen = sizeof cbuf;
                    n = recvmsg(s, &m, 0);
                }
                if (n != (ssize_t)sizeof msg) {
                    fprintf(stderr, "short read %zd\n", n);
                    return 1;
                }
            }
            t[mode].push_back((cpu_now() - t0) / iters);
        }
    }
    for (int mode = 0; mode < 4; ++mode) {
        std::sort(t[mode].begin(), t[mode].end());
        printf("%-24s send+read median %.0f ns (min %.0f)\n",
               names[mode],
               t[mode][t[mode].size() / 2],
               t[mode][0]);
    }
}
