//! Start-up benchmark: the time from asking for a server to the first answered query, for
//! the local cluster and for the container path, as medians of several runs taken in the
//! same session so that the two can be compared as a ratio.
//!
//! cargo bench --bench startup -- [--runs N]
//! The container path uses SQLGRADE_BENCH_IMAGE, else SQLGRADE_TEST_IMAGE, else postgres:14;
//! it is skipped (and said so) when no Docker engine answers.

use std::time::{Duration, Instant};

use sqlgrade::db::{DockerChoice, Server, Target, docker};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn one(target: &Target, image: &str) -> Result<Duration, String> {
    let choice = DockerChoice {
        image: image.to_string(),
        container: docker::container_name(),
    };
    let started = Instant::now();
    let server = Server::provision(target, None, &choice, None, Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let client = server.admin("postgres").await.map_err(|e| e.to_string())?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    drop(client);
    let _ = server.close().await;
    Ok(elapsed)
}

async fn series(name: &str, target: Target, image: &str, runs: usize) -> Option<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        match one(&target, image).await {
            Ok(t) => times.push(t),
            Err(e) => {
                println!("{name:<8} skipped: {e}");
                return None;
            }
        }
    }
    let m = median(times.clone());
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    println!(
        "{name:<8} median {:>7.3} s   min {:>7.3} s   max {:>7.3} s   ({runs} runs)",
        m.as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64()
    );
    Some(m)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Only `cargo bench` passes `--bench`; test runners that list or run every target
    // (`--list`, `cargo test --all-targets`) get no tests and no measurement.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    let image = std::env::var("SQLGRADE_BENCH_IMAGE")
        .or_else(|_| std::env::var("SQLGRADE_TEST_IMAGE"))
        .unwrap_or_else(|_| docker::DEFAULT_IMAGE.to_string());
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        println!("start to first query, {runs} runs each: the local cluster, then the container ({image})");
        let local = series("local", Target::Local, &image, runs).await;
        let container = series("docker", Target::Docker, &image, runs).await;
        if let (Some(l), Some(d)) = (local, container) {
            println!("docker / local = {:.2}", d.as_secs_f64() / l.as_secs_f64());
        }
    });
}
