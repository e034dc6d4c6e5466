#!/usr/bin/env python3
"""Black-box test of samples/http_server (DESIGN.md section 7's server contract).

Usage: http_server_test.py PATH_TO_HTTP_SERVER

Starts the server on port 0, reads `listening on H:P`, and checks: curl GET /
(python's http.client when curl is missing); two requests on one keep-alive
connection; three pipelined requests in one write answered in order; POST
/echo with Content-Length and chunked bodies; 404; a malformed request 400;
a 20 KiB header 431; a body over the limit 413; a 20 KiB chunk-size line
400; a client that sends half a
header and stalls, and one that sends many requests and never reads, while
another client is served; `--threads 2` serves; `--tls` serves HTTPS (when
built with TLS and openssl is installed); SIGTERM and SIGINT each end the
server with status 0, closing the connections still open (on every thread).
"""

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

TIMEOUT = 30  # a hang guard only
HELLO = b"Hello, world!\n"


def start(exe, *args):
    p = subprocess.Popen([exe, "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode().strip()
    assert line.startswith("listening on "), f"first line: {line!r}"
    host, port = line[len("listening on "):].rsplit(":", 1)
    return p, host, int(port)


def stop(p, sig=signal.SIGTERM):
    p.send_signal(sig)
    rc = p.wait(timeout=TIMEOUT)
    err = p.stderr.read().decode()
    assert rc == 0, f"exit status {rc} after {sig!r}; stderr: {err}"


def read_response(f):
    """One response from a socket file: (status, headers dict, body)."""
    status_line = f.readline()
    assert status_line, "connection closed before a response"
    parts = status_line.decode().split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        line = f.readline().decode()
        assert line, "connection closed in the header"
        if line in ("\r\n", "\n"):
            break
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    n = int(headers.get("content-length", "0"))
    body = f.read(n)
    assert len(body) == n, "short body"
    return status, headers, body


def raw_exchange(host, port, data):
    """Sends `data`, returns the first response (the server may close after)."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(data)
        return read_response(s.makefile("rb"))


def get_ok(host, port):
    status, _, body = raw_exchange(host, port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == (200, HELLO), (status, body)


def test_curl_get(host, port):
    if shutil.which("curl"):
        out = subprocess.run(["curl", "-sS", "-m", str(TIMEOUT), f"http://{host}:{port}/"],
                             check=True, capture_output=True).stdout
        assert out == HELLO, out
    else:
        c = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        c.request("GET", "/")
        assert c.getresponse().read() == HELLO


def test_keep_alive(host, port):
    c = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    for _ in range(2):
        c.request("GET", "/")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, HELLO)
    c.request("POST", "/echo", body=b"again")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"again")
    assert c.sock is not None, "connection was not kept alive"
    c.close()


def test_pipelining(host, port):
    reqs = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(reqs)
        f = s.makefile("rb")
        got = [read_response(f) for _ in range(3)]
    assert [(st, b) for st, _, b in got] == [(200, HELLO), (200, b"abc"), (404, b"not found\n")]


def test_echo_content_length(host, port):
    body = bytes(range(256)) * 64  # 16 KiB, more than one read
    status, _, got = raw_exchange(
        host, port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert (status, got) == (200, body)


def test_echo_chunked(host, port):
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")
    status, _, got = raw_exchange(host, port, data)
    assert (status, got) == (200, b"hello, world")
    if shutil.which("curl"):  # curl's own chunked upload, with Expect: 100-continue
        out = subprocess.run(
            ["curl", "-sS", "-m", str(TIMEOUT), "-H", "Transfer-Encoding: chunked",
             "--data-binary", "@-", f"http://{host}:{port}/echo"],
            input=b"x" * 5000, check=True, capture_output=True).stdout
        assert out == b"x" * 5000, len(out)


def test_not_found(host, port):
    status, _, _ = raw_exchange(host, port, b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404, status


def test_malformed(host, port):
    status, headers, _ = raw_exchange(host, port, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
    assert status == 400, status
    assert headers.get("connection", "").lower() == "close", headers


def test_header_too_large(host, port):
    big = b"X-Big: " + b"a" * (20 * 1024) + b"\r\n"
    status, _, _ = raw_exchange(host, port, b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert status == 431, status


def test_body_too_large(host, port):
    status, _, _ = raw_exchange(
        host, port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    assert status == 413, status


def test_huge_chunk_line(host, port):
    # A chunk-size line longer than the read buffer: refused, not buffered.
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=" + b"e" * (20 * 1024) + b"\r\nhello\r\n0\r\n\r\n")
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        status, _, _ = read_response(s.makefile("rb"))
    assert status == 400, status


def test_stalled_header_does_not_block(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
        get_ok(host, port)
        get_ok(host, port)


def test_client_that_never_reads_does_not_block(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as greedy:
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        greedy.setblocking(False)
        req = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16384\r\n\r\n" + b"z" * 16384
        sent = 0
        # Send until the server stops reading (its writes back are stuck),
        # i.e. until our send buffer fills too; a bound keeps it finite.
        while sent < 64 * 1024 * 1024:
            try:
                sent += greedy.send(req)
            except BlockingIOError:
                break
        assert sent > 0
        get_ok(host, port)
        get_ok(host, port)


def open_idle_connections(host, port, n):
    """n keep-alive connections, each having been served once, left open."""
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        assert read_response(f)[0] == 200
        conns.append((s, f))
    return conns


def assert_closed(conns):
    """Each connection sees end of stream: the server closed it."""
    for s, f in conns:
        try:
            assert f.read() == b"", "bytes after the response"
        except ConnectionResetError:
            pass
        s.close()


def test_threads(exe):
    p, host, port = start(exe, "--threads", "2")
    conns = []
    try:
        for _ in range(8):  # new connections, spread by the kernel
            get_ok(host, port)
        test_pipelining(host, port)
        conns = open_idle_connections(host, port, 8)  # likely on both threads
    finally:
        stop(p)
    assert_closed(conns)


def test_tls(exe):
    if not shutil.which("openssl"):
        print("skip --tls: no openssl")
        return
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p = subprocess.Popen([exe, "--port", "0", "--tls", cert, key],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = p.stdout.readline().decode().strip()
        if not line and b"no pollux::tls" in p.stderr.read():
            p.wait(timeout=TIMEOUT)
            print("skip --tls: built without pollux::tls")
            return
        assert line.startswith("listening on "), f"first line: {line!r}"
        port = int(line.rsplit(":", 1)[1])
        try:
            ctx = ssl.create_default_context(cafile=cert)
            c = http.client.HTTPSConnection("localhost", port, timeout=TIMEOUT, context=ctx)
            for _ in range(2):  # keep-alive over TLS
                c.request("GET", "/")
                r = c.getresponse()
                assert (r.status, r.read()) == (200, HELLO)
            c.request("POST", "/echo", body=b"secret")
            r = c.getresponse()
            assert (r.status, r.read()) == (200, b"secret")
            c.close()
        finally:
            stop(p)


def main():
    exe = sys.argv[1]
    p, host, port = start(exe)
    try:
        for t in (test_curl_get, test_keep_alive, test_pipelining, test_echo_content_length,
                  test_echo_chunked, test_not_found, test_malformed, test_header_too_large,
                  test_body_too_large, test_huge_chunk_line, test_stalled_header_does_not_block,
                  test_client_that_never_reads_does_not_block):
            t(host, port)
            print("ok", t.__name__)
        get_ok(host, port)  # still serving after all of the above
    finally:
        stop(p, signal.SIGTERM)
    print("ok SIGTERM exits 0")
    p, host, port = start(exe)
    conns = open_idle_connections(host, port, 2)
    stalled = socket.create_connection((host, port), timeout=TIMEOUT)
    stalled.sendall(b"GET / HTTP/1.1\r\nHost")
    stop(p, signal.SIGINT)
    assert_closed(conns + [(stalled, stalled.makefile("rb"))])
    print("ok SIGINT exits 0 and closes open connections")
    test_threads(exe)
    print("ok --threads 2")
    test_tls(exe)
    print("ok --tls")


if __name__ == "__main__":
    main()
