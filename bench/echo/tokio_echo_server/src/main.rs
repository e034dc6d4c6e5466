//! tokio_echo_server: a TCP echo server written the way a tokio user writes
//! one: a current_thread runtime, one spawned task per connection that
//! reads into its buffer and writes the bytes back with `write_all`.
//!
//! It follows the sample echo servers' contract, as `asio_echo_server`
//! does, so the benchmark scripts drive it alike: `--host H` (default
//! 127.0.0.1), `--port P` (0 picks one), `listening on H:P` as the first
//! stdout line (flushed), exit 0 after SIGINT or SIGTERM. Like the Asio
//! baseline it reads into a 16 KiB buffer, keeps at most one buffer in
//! flight per connection, leaves Nagle on, and half-closes its side when
//! the peer does.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

async fn session(mut socket: TcpStream) {
    // Reserved, not zero-filled (as Asio's std::array is not): `read_buf`
    // reads into the spare capacity, so the pages a connection never uses
    // stay untouched. `vec![0u8; 16 * 1024]` would make all 16 KiB
    // resident for every connection, idle or not.
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        match socket.read_buf(&mut buf).await {
            Ok(0) => {
                // End of stream: half-close our side too.
                let _ = socket.shutdown().await;
                return;
            }
            Ok(_) => {}
            Err(_) => return,
        }
        if socket.write_all(&buf).await.is_err() {
            return;
        }
    }
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
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
                // An accept error (such as running out of descriptors) drops
                // that connection only.
                if let Ok((socket, _)) = accepted {
                    tokio::spawn(session(socket));
                }
            }
            // Returning drops the runtime, and with it every session.
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mut host = String::from("127.0.0.1");
    let mut port = String::from("0");
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--host" if i + 1 < args.len() => host = args[i + 1].clone(),
            "--port" if i + 1 < args.len() => port = args[i + 1].clone(),
            _ => {
                eprintln!("usage: {} [--host H] [--port P]", args[0]);
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    let addr: SocketAddr = match format!("{host}:{port}").parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tokio_echo_server: {host}:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio_echo_server: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_echo_server: {e}");
            ExitCode::from(1)
        }
    }
}
