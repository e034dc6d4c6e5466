//! tokio_process_bench: the process benchmarks' tokio baseline, written the
//! way a tokio user writes them: a current_thread runtime and
//! `tokio::process::Command`. Same command line and output as
//! bench/process/libuv_process_bench.c:
//!
//!   tokio_process_bench spawn TOTAL IN_FLIGHT
//!     spawns /bin/true TOTAL times, IN_FLIGHT at once (IN_FLIGHT tasks,
//!     each spawning and awaiting `wait()` in turn), stdio null; prints
//!     the processes per second.
//!   tokio_process_bench pipe BYTES
//!     spawns cat with piped stdin and stdout, writes BYTES with
//!     `write_all` then drops stdin, while another task reads stdout back
//!     with 64 KiB reads, then awaits the exit; prints bytes per second.

use std::process::{ExitCode, Stdio};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

async fn spawn_bench(total: u64, in_flight: u64) -> Result<f64, String> {
    let start = Instant::now();
    let next = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for _ in 0..in_flight {
        let next = next.clone();
        handles.push(local.spawn_local(async move {
            let mut failed = 0u64;
            while next.get() < total {
                next.set(next.get() + 1);
                let status = Command::new("/bin/true")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("spawn: {e}"))?
                    .wait()
                    .await
                    .map_err(|e| format!("wait: {e}"))?;
                if !status.success() {
                    failed += 1;
                }
            }
            Ok::<u64, String>(failed)
        }));
    }
    let failed = local
        .run_until(async move {
            let mut failed = 0;
            for h in handles {
                failed += h.await.map_err(|e| e.to_string())??;
            }
            Ok::<u64, String>(failed)
        })
        .await?;
    let secs = start.elapsed().as_secs_f64();
    if failed != 0 {
        return Err(format!("{failed} failed"));
    }
    Ok(total as f64 / secs)
}

async fn pipe_bench(bytes: usize) -> Result<f64, String> {
    let data = vec![b'x'; bytes];
    let start = Instant::now();
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let writer = async move {
        stdin.write_all(&data).await?;
        drop(stdin);
        Ok::<(), std::io::Error>(())
    };
    let reader = async move {
        let mut buf = vec![0u8; 65536];
        let mut total = 0usize;
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                return Ok::<usize, std::io::Error>(total);
            }
            total += n;
        }
    };
    let (w, r) = tokio::join!(writer, reader);
    w.map_err(|e| format!("write: {e}"))?;
    let read = r.map_err(|e| format!("read: {e}"))?;
    let status = child.wait().await.map_err(|e| format!("wait: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if read != bytes || !status.success() {
        return Err(format!("read {read} of {bytes} bytes, cat {status}"));
    }
    Ok(bytes as f64 / secs)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = match args.get(1).map(String::as_str) {
        Some("spawn") if args.len() == 4 => {
            let total = args[2].parse().unwrap_or(0);
            let in_flight = args[3].parse().unwrap_or(1);
            rt.block_on(spawn_bench(total, in_flight))
        }
        Some("pipe") if args.len() == 3 => rt.block_on(pipe_bench(args[2].parse().unwrap_or(0))),
        _ => {
            eprintln!("usage: {} spawn TOTAL IN_FLIGHT | pipe BYTES", args[0]);
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(rate) => {
            println!("{rate:.1}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tokio_process_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
