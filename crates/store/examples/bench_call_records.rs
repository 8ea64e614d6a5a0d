//! Call-record writes per second: events one transaction each (`record_call_event`) against
//! group commit (`record_call_events`) at several batch sizes, one writer as in the switch.
//! Run in release:
//!
//! ```text
//! cargo run --release -p hotline-store --example bench_call_records
//! cargo run --release -p hotline-store --example bench_call_records -- \
//!     --url postgres://postgres@127.0.0.1:5432/test
//! ```
//! Each call has three events (arrived, answered, ended, as a call of the SIP benchmark), and
//! the stream interleaves about a hundred live calls the way the switch's queue does: the
//! arrival of one call, the answer of one that arrived 50 calls ago, the end of one that
//! arrived 100 calls ago. With a PostgreSQL URL the benchmark works in a fresh schema
//! `hotline_bench_cdr` (dropped first); without one, in a fresh SQLite file under
//! `target/bench-data`.

use std::time::Instant;

use clap::Parser;
use hotline_store::*;

#[derive(Parser)]
struct Args {
    /// Database URL (default: a fresh SQLite file under target/bench-data).
    #[arg(long)]
    url: Option<String>,
    /// Calls written per batch size (three events each).
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Batch sizes to time; 1 is `record_call_event`, one transaction per event.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    batches: Vec<usize>,
}

const T0: Millis = 1_780_000_000_000;
/// How many calls apart an arrival and the answer (and the answer and the end) are queued.
const LAG: usize = 50;

/// The events of `calls` calls named `{prefix}-{n}`, interleaved as the switch queues them.
fn stream(prefix: &str, calls: usize) -> Vec<CallEvent> {
    let mut out = Vec::with_capacity(calls * 3);
    let ev = |n: usize, seq: i64, kind: CallEventKind| CallEvent {
        call_id: format!("{prefix}-{n}"),
        seq,
        at: T0 + n as i64 * 10 + seq * 1000,
        kind,
    };
    for step in 0..calls + 2 * LAG {
        if step < calls {
            out.push(ev(
                step,
                0,
                CallEventKind::Arrived {
                    direction: Direction::Inbound,
                    ani: format!("+1212{:07}", step),
                    dnis: "+18005550100".into(),
                },
            ));
        }
        if let Some(n) = step.checked_sub(LAG).filter(|n| *n < calls) {
            out.push(ev(
                n,
                1,
                CallEventKind::Answered {
                    agent_id: format!("agent{}", n % 50),
                },
            ));
        }
        if let Some(n) = step.checked_sub(2 * LAG).filter(|n| *n < calls) {
            out.push(ev(
                n,
                2,
                CallEventKind::Ended {
                    reason: "normal".into(),
                    abandoned: false,
                },
            ));
        }
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let url = match &args.url {
        Some(u) if u.starts_with("postgres") => {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(u).await?;
            sqlx::query("DROP SCHEMA IF EXISTS hotline_bench_cdr CASCADE")
                .execute(&admin)
                .await?;
            sqlx::query("CREATE SCHEMA hotline_bench_cdr")
                .execute(&admin)
                .await?;
            admin.close().await;
            let sep = if u.contains('?') { '&' } else { '?' };
            format!("{u}{sep}options=-c%20search_path%3Dhotline_bench_cdr")
        }
        Some(u) => u.clone(),
        None => {
            let dir = std::path::Path::new("target/bench-data");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("call-records.db{suffix}")));
            }
            "sqlite://target/bench-data/call-records.db".to_string()
        }
    };
    let store = Store::open(
        &url,
        StoreOptions {
            node: Some("bench".into()),
            ..Default::default()
        },
    )
    .await?;
    println!(
        "backend: {:?}; {} calls of 3 events per batch size",
        store.backend(),
        args.calls
    );
    for &size in &args.batches {
        let events = stream(&format!("b{size}"), args.calls);
        let t = Instant::now();
        let cpu = cpu_seconds();
        if size <= 1 {
            for e in &events {
                store.record_call_event(e).await?;
            }
        } else {
            for chunk in events.chunks(size) {
                let refused = store.record_call_events(chunk).await?;
                if let Some(r) = refused.first() {
                    return Err(format!("event {} refused: {}", r.index, r.error).into());
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let per_s = events.len() as f64 / secs;
        // CPU of this process (the store's side: sqlx, and SQLite itself, which runs in it).
        let cpu_us = match (cpu, cpu_seconds()) {
            (Some(a), Some(b)) => format!("{:.1}", (b - a) * 1e6 / events.len() as f64),
            _ => "n/a".into(),
        };
        println!(
            "batch {size:>4}: {} events in {secs:.2} s = {per_s:>7.0} events/s = {:>6.0} call records/s; {:.1} us per event, CPU {cpu_us} us per event",
            events.len(),
            per_s / 3.0,
            secs * 1e6 / events.len() as f64
        );
        if !store.open_call_ids().await?.is_empty() {
            return Err("some call records were left open".into());
        }
    }
    store.close().await;
    Ok(())
}

/// User plus system CPU time of this process so far, from `/proc/self/stat` (Linux; 10 ms
/// ticks, fine over runs of seconds).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
