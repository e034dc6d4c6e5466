#!/usr/bin/env python3
"""Black-box test of samples/tls_echo (DESIGN.md section 7's server contract).

Usage: tls_echo_test.py PATH_TO_TLS_ECHO

Makes a self-signed certificate for localhost with `openssl req` (nothing is
checked in), starts the server, and checks: the first line is `listening on
H:P`; a TLS client (python's ssl module, verifying the certificate and the
hostname) gets its bytes back, small and large; a plain-text client is
dropped and the server goes on serving; a client that closes mid-handshake
does no harm; SIGTERM and SIGINT each end it with status 0.
"""

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

TIMEOUT = 30  # a hang guard only


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def start(exe, cert, key):
    p = subprocess.Popen([exe, "--cert", cert, "--key", key, "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("listening on "), f"first line: {line!r}"
    host, port = line[len("listening on "):].rsplit(":", 1)
    return p, host, int(port)


def tls_echo(ctx, host, port, payload):
    with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                assert chunk, "server closed early"
                got += chunk
            assert got == payload, "echo differs"
            assert s.version() == "TLSv1.3", s.version()
            s.unwrap()  # our close_notify, then the server's


def plain_client(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        while True:  # the server hangs up (perhaps after an alert)
            try:
                if not s.recv(4096):
                    break
            except ConnectionResetError:
                break


def half_handshake(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a cut ClientHello


def run(exe, sig):
    with tempfile.TemporaryDirectory() as d:
        cert, key = make_cert(d)
        p, host, port = start(exe, cert, key)
        try:
            ctx = ssl.create_default_context(cafile=cert)
            tls_echo(ctx, host, port, b"hello over tls\n")
            plain_client(host, port)
            half_handshake(host, port)
            tls_echo(ctx, host, port, os.urandom(256 * 1024))
            wrong = ssl.create_default_context()  # the system CAs: our cert is unknown
            try:
                tls_echo(wrong, host, port, b"x")
                raise AssertionError("an unverified certificate was accepted")
            except ssl.SSLCertVerificationError:
                pass
            tls_echo(ctx, host, port, b"still serving\n")
        finally:
            p.send_signal(sig)
            try:
                rc = p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                raise
        err = p.stderr.read()
        assert rc == 0, f"exit status {rc} after {signal.Signals(sig).name}; stderr: {err}"
        assert "handshake:" in err, f"no handshake error reported: {err!r}"


def main():
    exe = sys.argv[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        run(exe, sig)
    print("ok")


if __name__ == "__main__":
    main()
