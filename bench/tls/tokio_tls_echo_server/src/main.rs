//! tokio_tls_echo_server: a TLS echo server written the way a tokio user
//! writes one: a current_thread runtime, tokio-openssl's `SslStream` over
//! each accepted `TcpStream`, one spawned task per connection that reads
//! into its buffer and writes the bytes back with `write_all`.
//!
//! It follows samples/tls_echo's contract, so bench/tls/run.sh drives it
//! alike: `--cert C --key K` (PEM), `--host H` (default 127.0.0.1),
//! `--port P` (0 picks one), `listening on H:P` as the first stdout line
//! (flushed), exit 0 after SIGINT or SIGTERM. `--ciphersuites S` pins the
//! TLS 1.3 suites (OpenSSL's list syntax); the default is OpenSSL's.
//! Like the Asio baseline it reads into a 16 KiB buffer.

use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;

use openssl::ssl::{Ssl, SslAcceptor, SslContext, SslFiletype, SslMethod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio_openssl::SslStream;

async fn session(socket: TcpStream, ctx: SslContext) {
    let ssl = match Ssl::new(&ctx) {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut tls = match SslStream::new(ssl, socket) {
        Ok(s) => s,
        Err(_) => return,
    };
    if Pin::new(&mut tls).accept().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if tls.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = tls.shutdown().await;
}

async fn serve(addr: SocketAddr, ctx: SslContext) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    println!(
        "listening on {}:{}",
        addr.ip(),
        listener.local_addr()?.port()
    );
    std::io::stdout().flush()?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((socket, _)) = accepted {
                    tokio::spawn(session(socket, ctx.clone()));
                }
            }
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

fn context(cert: &str, key: &str, suites: &str) -> Result<SslContext, openssl::error::ErrorStack> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    b.set_certificate_chain_file(cert)?;
    b.set_private_key_file(key, SslFiletype::PEM)?;
    b.check_private_key()?;
    if !suites.is_empty() {
        b.set_ciphersuites(suites)?;
    }
    Ok(b.build().into_context())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mut host = String::from("127.0.0.1");
    let mut port = String::from("0");
    let (mut cert, mut key, mut suites) = (String::new(), String::new(), String::new());
    let mut i = 1;
    while i < args.len() {
        let v = if i + 1 < args.len() { args[i + 1].clone() } else { String::new() };
        match args[i].as_str() {
            "--host" if i + 1 < args.len() => host = v,
            "--port" if i + 1 < args.len() => port = v,
            "--cert" if i + 1 < args.len() => cert = v,
            "--key" if i + 1 < args.len() => key = v,
            "--ciphersuites" if i + 1 < args.len() => suites = v,
            _ => {
                cert.clear();
                break;
            }
        }
        i += 2;
    }
    if cert.is_empty() || key.is_empty() {
        eprintln!(
            "usage: {} --cert C --key K [--host H] [--port P] [--ciphersuites S]",
            args[0]
        );
        return ExitCode::from(2);
    }
    let ctx = match context(&cert, &key, &suites) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tokio_tls_echo_server: certificate/key: {e}");
            return ExitCode::from(1);
        }
    };
    let addr: SocketAddr = match format!("{host}:{port}").parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tokio_tls_echo_server: {host}:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio_tls_echo_server: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(addr, ctx)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_tls_echo_server: {e}");
            ExitCode::from(1)
        }
    }
}
