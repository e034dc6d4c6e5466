// file_server: a small static file server (HTTP/1.0, GET and HEAD) over
// `pollux::fs`, written with `Async` coroutines.
//
// What it shows: `net::TcpListener` with one spawned task per connection,
// a header read under `time::timeout`, path checks with `fs::canonicalize`,
// and a file streamed with `fs::File::read_at` into one fixed 64 KiB buffer
// and `io::write_all` to the socket. The next read starts only once the
// previous chunk was written, so a slow client holds only its buffer
// (backpressure): 16 clients fetching a 100 MiB file at once keep the
// server's RSS at a few MiB (test/file_server_test.py measures it).
//
// Run:    ./file_server --root DIR [--host 127.0.0.1] [--port 0]
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed), then
//         nothing until a signal; exits 0 after SIGINT or SIGTERM, closing
//         its connections.
// Try:    curl -v http://127.0.0.1:PORT/some/file
//
// The protocol, small and strict:
// - Request line `METHOD SP /path SP HTTP/1.x`, then header lines
//   `Name: value`, each ended by CRLF, then an empty line. The head may be
//   at most 8 KiB (else 431) and must arrive within 10 s of the connection
//   (else 408). A malformed request line or header line is 400; a method
//   other than GET or HEAD is 405 (with `Allow: GET, HEAD`).
// - The path is percent-decoded (an invalid escape or a NUL byte is 400);
//   a query (`?...`) is ignored. A `..` segment after decoding is 403. The
//   file is resolved with `fs::canonicalize` and must stay under the root's
//   canonical path, so a symlink that leads out of DIR is 403 as well.
// - A directory is served as its `index.html` when it has one (checked the
//   same way), and is 403 otherwise: there are no directory listings.
// - A missing file is 404; one the server may not read is 403.
// - Every response is HTTP/1.0 with `Content-Length` and
//   `Connection: close`; the connection is closed after it (the server
//   shuts down its side, then reads and drops up to 64 KiB for up to 2 s
//   while it waits for the client to close, so unread request bytes do not
//   turn the close into a reset that could destroy the response). No ranges, no
//   keep-alive. `Content-Type` comes from the extension (text/html,
//   text/plain, a few others, application/octet-stream by default).

#include <pollux/core/async.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/select.hpp>
#include <pollux/fs.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace fs = pollux::fs;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t max_head = 8 * 1024;
constexpr std::size_t chunk_size = 64 * 1024;
constexpr auto head_timeout = 10s;
constexpr std::size_t linger_bytes = 64 * 1024;
constexpr auto linger_time = 2s;

struct Options {
    std::string host = "127.0.0.1";
    std::string port = "0";
    std::string root;
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port" || a == "--root") && i + 1 < argc) {
            (a == "--host" ? o.host : a == "--port" ? o.port : o.root) = argv[++i];
        } else {
            o.root.clear();
            break;
        }
    }
    if (o.root.empty()) {
        std::cerr << "usage: " << argv[0] << " --root DIR [--host H] [--port P]\n";
        return false;
    }
    return true;
}

// A response without a file behind it: the status line and a short
// text/plain body naming the status.
std::string status_response(int code, std::string_view reason, bool head, std::string_view extra) {
    std::string body = std::to_string(code) + " " + std::string(reason) + "\n";
    std::string r = "HTTP/1.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
    r += "Content-Type: text/plain\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra;
    r += "Connection: close\r\n\r\n";
    if (!head) {
        r += body;
    }
    return r;
}

std::string_view content_type(const std::filesystem::path& p) {
    const std::string ext = p.extension().string();
    if (ext == ".html" || ext == ".htm") {
        return "text/html";
    }
    if (ext == ".txt") {
        return "text/plain";
    }
    if (ext == ".css") {
        return "text/css";
    }
    if (ext == ".js") {
        return "text/javascript";
    }
    if (ext == ".json") {
        return "application/json";
    }
    if (ext == ".png") {
        return "image/png";
    }
    if (ext == ".jpg" || ext == ".jpeg") {
        return "image/jpeg";
    }
    return "application/octet-stream";
}

bool is_tchar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Percent-decodes `s`; nullopt for a bad escape or a NUL byte. `+` stays
// `+` (it means a space only in form data, not in a path).
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) {
                return std::nullopt;
            }
            int hi = hex_digit(s[i + 1]);
            int lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') {
            return std::nullopt;
        }
        out += c;
    }
    return out;
}

// What a request asks for, or the status that refuses it.
struct Request {
    int status = 0; // 0: well-formed GET/HEAD; else the error status
    bool head = false;
    std::string path; // decoded, relative to the root, no `.`/`..`/empty segments
};

// Parses the head (request line and header lines, CRLF-separated, without
// the final empty line).
Request parse_head(std::string_view head) {
    Request req;
    const auto eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    // Request line: exactly three parts separated by single spaces.
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        req.status = 400;
        return req;
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar) || target.empty() ||
        target[0] != '/' || version.size() != 8 || version.substr(0, 7) != "HTTP/1." ||
        version[7] < '0' || version[7] > '9') {
        req.status = 400;
        return req;
    }
    for (char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
            req.status = 400;
            return req;
        }
    }
    // Header lines: `name: value`, name a token, no folding.
    std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
    while (!rest.empty()) {
        const auto e = rest.find("\r\n");
        const std::string_view h = rest.substr(0, e);
        rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
        const auto colon = h.find(':');
        if (colon == 0 || colon == std::string_view::npos ||
            !std::all_of(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(colon), is_tchar)) {
            req.status = 400;
            return req;
        }
        for (char c : h) {
            if (c == '\r' || c == '\n' || c == '\0') {
                req.status = 400;
                return req;
            }
        }
    }
    if (method != "GET" && method != "HEAD") {
        req.status = 405;
        return req;
    }
    req.head = method == "HEAD";
    auto decoded = percent_decode(target.substr(0, target.find_first_of("?#")));
    if (!decoded) {
        req.status = 400;
        return req;
    }
    // Segments after decoding: `%2e%2e` is `..` too, and so is one hidden
    // behind `%2f`.
    std::string_view d = *decoded;
    while (!d.empty()) {
        const auto slash = d.find('/');
        const std::string_view seg = d.substr(0, slash);
        d = slash == std::string_view::npos ? "" : d.substr(slash + 1);
        if (seg == "..") {
            req.status = 403;
            return req;
        }
        if (seg.empty() || seg == ".") {
            continue;
        }
        if (!req.path.empty()) {
            req.path += '/';
        }
        req.path += seg;
    }
    return req;
}

// How reading the head ended.
enum class HeadEnd { complete, too_large, malformed, closed };

// Reads until the empty line that ends the head, into `buf` (whose size
// is the limit); `len` is the head's length without its final CRLFCRLF.
pollux::Async<HeadEnd>
read_head(pollux::net::TcpStream& stream, std::array<char, max_head>& buf, std::size_t& len) {
    std::size_t filled = 0;
    for (;;) {
        auto n = co_await pollux::io::read(stream,
                                           asio::buffer(buf.data() + filled, buf.size() - filled));
        if (!n || *n == 0) {
            co_return filled == 0 ? HeadEnd::closed : HeadEnd::malformed;
        }
        // Search from just before the new bytes: the terminator may span reads.
        const std::size_t from = filled < 3 ? 0 : filled - 3;
        filled += *n;
        const std::string_view seen(buf.data(), filled);
        const auto end = seen.find("\r\n\r\n", from);
        if (end != std::string_view::npos) {
            len = end;
            co_return HeadEnd::complete;
        }
        if (filled == buf.size()) {
            co_return HeadEnd::too_large;
        }
    }
}

bool under(const std::filesystem::path& p, const std::string& root) {
    const std::string& s = p.native();
    return s == root || (s.size() > root.size() && s.compare(0, root.size(), root) == 0 &&
                         (root.back() == '/' || s[root.size()] == '/'));
}

// Resolves `rel` under `root` to a regular file's canonical path, or the
// status that refuses it.
pollux::Async<pollux::Result<std::filesystem::path>>
resolve(const std::string& root, std::string rel, int& status) {
    namespace errc = boost::system::errc;
    for (int tries = 0; tries < 2; ++tries) {
        auto canon = co_await fs::canonicalize(std::filesystem::path(root) / rel);
        if (!canon) {
            status = canon.error() == errc::permission_denied ? 403 : 404;
            co_return canon.error();
        }
        if (!under(*canon, root)) {
            status = 403; // a symlink that leads out of the root
            co_return make_error_code(errc::permission_denied);
        }
        auto meta = co_await fs::metadata(*canon);
        if (!meta) {
            status = meta.error() == errc::permission_denied ? 403 : 404;
            co_return meta.error();
        }
        if (meta->is_file()) {
            co_return *canon;
        }
        if (!meta->is_dir() || tries == 1) {
            break; // a device, a socket, or a directory named index.html
        }
        // A directory: its index.html, checked the same way.
        rel = (std::filesystem::path(rel) / "index.html").string();
        if (auto exists = co_await fs::try_exists(std::filesystem::path(root) / rel);
            !exists || !*exists) {
            break;
        }
    }
    status = 403;
    co_return make_error_code(errc::permission_denied);
}

pollux::Async<>
send_status(pollux::net::TcpStream& stream, int code, bool head, std::string_view extra = {}) {
    std::string_view reason = code == 400   ? "Bad Request"
                              : code == 403 ? "Forbidden"
                              : code == 404 ? "Not Found"
                              : code == 405 ? "Method Not Allowed"
                              : code == 408 ? "Request Timeout"
                              : code == 431 ? "Request Header Fields Too Large"
                                            : "Internal Server Error";
    const std::string r = status_response(code, reason, head, extra);
    (void)co_await pollux::io::write_all(stream, asio::buffer(r));
}

// Streams `len` bytes of `file` to `stream` through one buffer: the next
// read starts only once the previous chunk is written (backpressure).
pollux::Async<> send_body(pollux::net::TcpStream& stream, fs::File& file, std::uint64_t len) {
    auto buf = std::make_unique_for_overwrite<char[]>(chunk_size);
    std::uint64_t off = 0;
    while (off < len) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, len - off));
        auto n = co_await file.read_at(asio::buffer(buf.get(), want), off);
        if (!n || *n == 0) {
            // The file shrank or failed under us: the client sees a short
            // body (Content-Length is already sent), and the close.
            co_return;
        }
        if (!co_await pollux::io::write_all(stream, asio::buffer(buf.get(), *n))) {
            co_return; // the client went away
        }
        off += *n;
    }
}

// Reads one request and answers it. The head buffer is on the heap and
// freed before the body is sent, so a connection streaming a file holds
// only its 64 KiB chunk.
pollux::Async<> answer(pollux::net::TcpStream& stream, const std::string& root) {
    auto head = std::make_unique<std::array<char, max_head>>();
    std::size_t len = 0;
    auto end = co_await pollux::time::timeout(head_timeout, read_head(stream, *head, len));
    if (!end) {
        co_await send_status(stream, 408, false);
        co_return;
    }
    switch (*end) {
    case HeadEnd::closed:
        co_return;
    case HeadEnd::malformed:
        co_await send_status(stream, 400, false);
        co_return;
    case HeadEnd::too_large:
        co_await send_status(stream, 431, false);
        co_return;
    case HeadEnd::complete:
        break;
    }
    Request req = parse_head(std::string_view(head->data(), len));
    head.reset();
    if (req.status != 0) {
        co_await send_status(
            stream, req.status, req.head, req.status == 405 ? "Allow: GET, HEAD\r\n" : "");
        co_return;
    }
    int status = 0;
    auto path = co_await resolve(root, req.path, status);
    if (!path) {
        co_await send_status(stream, status, req.head);
        co_return;
    }
    auto file = co_await fs::File::open(*path);
    if (!file) {
        co_await send_status(
            stream, file.error() == boost::system::errc::permission_denied ? 403 : 404, req.head);
        co_return;
    }
    // The length from the open file (fstat), not from the path's stat:
    // it is the file we send.
    auto meta = co_await file->metadata();
    if (!meta || !meta->is_file()) {
        co_await send_status(stream, meta ? 403 : 500, req.head);
        co_return;
    }
    std::string r = "HTTP/1.0 200 OK\r\n";
    r += "Content-Type: " + std::string(content_type(*path)) + "\r\n";
    r += "Content-Length: " + std::to_string(meta->len()) + "\r\n";
    r += "Connection: close\r\n\r\n";
    if (!co_await pollux::io::write_all(stream, asio::buffer(r)) || req.head) {
        co_return;
    }
    co_await send_body(stream, *file, meta->len());
}

// Reads and drops what the client still sends, until it closes, up to
// `linger_bytes` or `linger_time`. Closing a socket with unread bytes in
// its receive buffer sends a reset, which may destroy our response
// before the client read it (a 431 answered after 8 KiB of a longer head,
// a 400 answered mid-request): a "lingering close", as nginx does.
pollux::Async<> drain(pollux::net::TcpStream& stream) {
    std::array<char, 4096> sink;
    std::size_t total = 0;
    while (total < linger_bytes) {
        auto n = pollux::flatten(co_await pollux::time::timeout(
            linger_time, pollux::io::read(stream, asio::buffer(sink))));
        if (!n || *n == 0) {
            co_return;
        }
        total += *n;
    }
}

pollux::Async<> serve(pollux::net::TcpStream stream, std::shared_ptr<const std::string> root) {
    co_await answer(stream, *root);
    // Our response is complete: send FIN, then wait for the client's.
    // The co_await stays out of the `if`: with g++ 12.2, `if (co_await
    // shutdown(...))` here made a task that never read its socket (not
    // yet reduced to a report).
    auto shut = co_await pollux::io::shutdown(stream);
    if (shut) {
        co_await drain(stream);
    }
}

pollux::Async<> accept_loop(pollux::net::TcpListener& listener,
                            std::shared_ptr<const std::string> root) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            std::cerr << "accept: " << conn.error().message() << '\n';
            co_await pollux::time::sleep(100ms);
            continue;
        }
        pollux::spawn(serve(std::move(conn->first), root)); // detached
    }
}

pollux::Async<int> async_main(Options o) {
    // Register the signals before announcing the port, so a signal sent as
    // soon as the line is read is not lost.
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    auto root = co_await fs::canonicalize(o.root);
    if (!root) {
        std::cerr << "root " << o.root << ": " << root.error().message() << '\n';
        co_return 1;
    }
    auto listener = pollux::net::TcpListener::bind(o.host + ":" + o.port);
    if (!listener) {
        std::cerr << "bind " << o.host << ":" << o.port << ": " << listener.error().message()
                  << '\n';
        co_return 1;
    }
    auto addr = listener->local_addr().value();
    std::cout << "listening on " << addr.address().to_string() << ":" << addr.port() << std::endl;
    (void)co_await pollux::select(
        accept_loop(*listener, std::make_shared<const std::string>(root->native())),
        sigint.recv(),
        sigterm.recv());
    co_return 0; // the Runtime drops the connection tasks, closing their sockets
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        return 2;
    }
    return pollux::run(async_main(o));
}
