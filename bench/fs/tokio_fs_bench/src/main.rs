// bench/fs/run.sh's tokio::fs contender, one case per run:
//   tokio_fs_bench random FILE OPS INFLIGHT  4 KiB reads at random offsets
//   tokio_fs_bench seq FILE                  the whole file, 1 MiB reads
//   tokio_fs_bench meta DIR COUNT INFLIGHT   open + metadata + close of DIR/0..COUNT
// A current_thread runtime (as pollux's bench); tokio::fs runs each call
// on its blocking pool (512 threads at most).
//
// Random reads: tokio::fs::File has no read_at, so each of INFLIGHT tasks
// runs std::os::unix::fs::FileExt::read_at (pread) inside
// tokio::task::spawn_blocking on one shared std::fs::File, which is what
// tokio::fs does inside for each of its calls.
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncReadExt;

fn rng_next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545f4914f6cdd1d)
}

async fn random(path: String, ops: u64, inflight: u64) {
    let file = Arc::new(std::fs::File::open(&path).expect("open"));
    let blocks = file.metadata().expect("metadata").len() / 4096;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..inflight {
        let file = file.clone();
        let n = ops / inflight + if i < ops % inflight { 1 } else { 0 };
        tasks.push(tokio::spawn(async move {
            let mut seed = 0x9e3779b97f4a7c15u64 ^ (i + 1);
            let mut buf = vec![0u8; 4096];
            let mut short = 0u64;
            for _ in 0..n {
                let off = (rng_next(&mut seed) % blocks) * 4096;
                let f = file.clone();
                let (r, b) = tokio::task::spawn_blocking(move || {
                    let r = f.read_at(&mut buf, off);
                    (r, buf)
                })
                .await
                .expect("join");
                buf = b;
                if r.map(|n| n != 4096).unwrap_or(true) {
                    short += 1;
                }
            }
            short
        }));
    }
    let mut short = 0;
    for t in tasks {
        short += t.await.expect("join");
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "tokio   random: {} reads of 4096 B, {} in flight: {:.0} ops/s{}",
        ops,
        inflight,
        ops as f64 / s,
        if short > 0 { " (some reads failed or were short)" } else { "" }
    );
}

async fn seq(path: String) {
    let t0 = Instant::now();
    let mut f = tokio::fs::File::open(&path).await.expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "tokio   seq: {} MiB in {:.3} s: {:.0} MiB/s",
        total >> 20,
        s,
        (total >> 20) as f64 / s
    );
}

async fn meta(dir: String, count: u64, inflight: u64) {
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..inflight {
        let dir = dir.clone();
        tasks.push(tokio::spawn(async move {
            let mut k = i;
            let mut ok = 0u64;
            while k < count {
                let f = tokio::fs::File::open(format!("{}/{}", dir, k)).await.expect("open");
                if f.metadata().await.is_ok() {
                    ok += 1;
                }
                drop(f); // close(2) here, on this thread: nothing in flight
                k += inflight;
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("join");
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "tokio   meta: {} open+stat+close, {} in flight: {:.0} files/s{}",
        count,
        inflight,
        count as f64 / s,
        if ok != count { " (some failed)" } else { "" }
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let usage = "usage: tokio_fs_bench random FILE OPS INFLIGHT | seq FILE | meta DIR COUNT INFLIGHT";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match a.get(1).map(|s| s.as_str()) {
        Some("random") if a.len() == 5 => rt.block_on(random(
            a[2].clone(),
            a[3].parse().expect(usage),
            a[4].parse().expect(usage),
        )),
        Some("seq") if a.len() == 3 => rt.block_on(seq(a[2].clone())),
        Some("meta") if a.len() == 5 => rt.block_on(meta(
            a[2].clone(),
            a[3].parse().expect(usage),
            a[4].parse().expect(usage),
        )),
        _ => {
            eprintln!("{}", usage);
            std::process::exit(2);
        }
    }
}
