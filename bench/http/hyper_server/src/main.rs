// hyper 0.14 server with samples/http_server's routes, for bench/http/run.sh.
use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Method, Request, Response, Server, StatusCode};
use std::convert::Infallible;

const HELLO: &str = "Hello, world!\n";

async fn handle(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(Body::from(HELLO))
            .unwrap()),
        (&Method::POST, "/echo") => {
            let body = hyper::body::to_bytes(req.into_body()).await.unwrap_or_default();
            Ok(Response::new(Body::from(body)))
        }
        _ => Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found\n"))
            .unwrap()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    };
    rt.block_on(async move {
        let addr = ([127, 0, 0, 1], port).into();
        let make = make_service_fn(|_| async { Ok::<_, Infallible>(service_fn(handle)) });
        let server = Server::bind(&addr).http1_pipeline_flush(true).serve(make);
        println!("listening on 127.0.0.1:{}", server.local_addr().port());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        server.await.unwrap();
    });
}
