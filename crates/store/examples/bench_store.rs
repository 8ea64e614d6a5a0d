//! Store benchmark: unified-view lookup by phone number with many customers, and outcome
//! writes per second. Run in release:
//!
//! ```text
//! cargo run --release -p hotline-store --example bench_store -- --customers 1000000
//! cargo run --release -p hotline-store --example bench_store -- --customers 1000000 \
//!     --url postgres://postgres@127.0.0.1:5432/test
//! ```
//! With a PostgreSQL URL the benchmark works in a fresh schema `hotline_bench` (dropped first).
//! Customers are imported once per database and reused by later runs with the same count.

use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use hotline_store::*;

#[derive(Parser)]
struct Args {
    /// Database URL (default: a SQLite file under target/bench-data).
    #[arg(long)]
    url: Option<String>,
    /// Number of customers (each has 2-4 identities).
    #[arg(long, default_value_t = 1_000_000)]
    customers: usize,
    /// Lookups to time.
    #[arg(long, default_value_t = 20_000)]
    lookups: usize,
    /// Outcomes to write.
    #[arg(long, default_value_t = 20_000)]
    outcomes: usize,
    /// Customer searches to time per kind.
    #[arg(long, default_value_t = 20)]
    searches: usize,
    /// Concurrent outcome writers.
    #[arg(long, default_value_t = 8)]
    writers: usize,
}

const T0: Millis = 1_780_000_000_000;

fn phone(i: usize) -> String {
    format!("+1{}", 2_000_000_000u64 + i as u64 * 7)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let url = match &args.url {
        Some(u) if u.starts_with("postgres") => {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(u).await?;
            let exists: Option<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE nspname = 'hotline_bench'",
            )
            .fetch_optional(&admin)
            .await?;
            if exists.is_none() {
                sqlx::query("CREATE SCHEMA hotline_bench")
                    .execute(&admin)
                    .await?;
            }
            admin.close().await;
            let sep = if u.contains('?') { '&' } else { '?' };
            format!("{u}{sep}options=-c%20search_path%3Dhotline_bench")
        }
        Some(u) => u.clone(),
        None => format!("sqlite://target/bench-data/store-{}.db", args.customers),
    };
    let store = Store::open(
        &url,
        StoreOptions {
            max_connections: 16,
            ..Default::default()
        },
    )
    .await?;
    println!("backend: {:?}", store.backend());

    let have = store.search_customers("Bench Customer 0", 1).await?.len();
    if have == 0 {
        let t = Instant::now();
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..args.customers {
            let tier = ["vip", "gold", "silver", "standard", "standard", "standard"][i % 6];
            let mut ids = vec![
                Identity::phone(&phone(i))?,
                Identity::new(IdentityKind::Account, &format!("AC{i:09}"))?,
            ];
            if i % 2 == 0 {
                ids.push(Identity::new(IdentityKind::Loyalty, &format!("FF{i:09}"))?);
            }
            if i % 3 == 0 {
                ids.push(Identity::new(
                    IdentityKind::Email,
                    &format!("c{i}@example.com"),
                )?);
            }
            batch.push((
                NewCustomer {
                    display_name: format!("Bench Customer {i}"),
                    tier: tier.into(),
                    ..Default::default()
                },
                ids,
            ));
            if batch.len() == 10_000 || i + 1 == args.customers {
                store.import_customers(&batch, "bench", T0).await?;
                batch.clear();
            }
        }
        println!(
            "imported {} customers in {:.1} s",
            args.customers,
            t.elapsed().as_secs_f64()
        );
        // Give a tenth of the customers some history so the view has contacts, tickets, bookings.
        store
            .upsert_disposition(&Disposition {
                code: "done".into(),
                label: "Done".into(),
                resolved: true,
            })
            .await?;
        let item = store
            .upsert_item(&NewItem {
                sku: "BENCH".into(),
                name: "Bench item".into(),
                description: String::new(),
                starts_at: None,
                price_minor: 100,
                currency: "USD".into(),
                capacity: 1_000_000,
            })
            .await?;
        let t = Instant::now();
        for i in (0..args.customers).step_by(10).take(20_000) {
            let cid = store
                .find_customer(&Identity::phone(&phone(i))?)
                .await?
                .ok_or("missing")?;
            let call = format!("bench-{i}");
            for (seq, kind) in [
                CallEventKind::Arrived {
                    direction: Direction::Inbound,
                    ani: phone(i),
                    dnis: "+18005550100".into(),
                },
                CallEventKind::Identified { customer_id: cid },
                CallEventKind::Ended {
                    reason: "normal".into(),
                    abandoned: false,
                },
            ]
            .into_iter()
            .enumerate()
            {
                store
                    .record_call_event(&CallEvent {
                        call_id: call.clone(),
                        seq: seq as i64,
                        at: T0 + i as i64,
                        kind,
                    })
                    .await?;
            }
            store
                .write_outcome(&Outcome {
                    call_id: call.clone(),
                    agent_id: "a1".into(),
                    disposition: "done".into(),
                    notes: "n".into(),
                    wrapup_ms: 1000,
                    ticket_id: None,
                    at: T0,
                })
                .await?;
            store
                .create_ticket(&NewTicket {
                    customer_id: Some(cid),
                    subject: "bench".into(),
                    at: T0,
                    ..Default::default()
                })
                .await?;
            store
                .hold_booking(cid, item, Some(&call), &format!("B{i}"), T0, T0)
                .await?;
        }
        println!(
            "history for 20,000 customers in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        println!(
            "reusing {} customers already in the database",
            args.customers
        );
    }

    // Unified view by phone number: random customers, one lookup at a time (the screen-pop path).
    let mut hist = Histogram::<u64>::new(3)?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut with_history = 0;
    for n in 0..args.lookups + 1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % args.customers as u64) as usize;
        let i = if n % 10 == 0 {
            (i / 10) * 10 % (200_000.min(args.customers))
        } else {
            i
        };
        let who = Identity::phone(&phone(i))?;
        let t = Instant::now();
        let v = store.customer_view(&who).await?.ok_or("customer missing")?;
        let us = t.elapsed().as_micros() as u64;
        if n >= 1000 {
            hist.record(us.max(1))?;
        }
        if !v.recent_contacts.is_empty() {
            with_history += 1;
        }
    }
    println!(
        "unified view by phone ({} lookups, {} with history): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        args.lookups,
        with_history,
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );

    // Customer search as agents type (issue 14): a name fragment, a whole national number, the
    // last digits of a number; each a scan (no index serves a leading wildcard).
    for (what, text) in [
        ("name fragment", "ustomer 4242".to_owned()),
        (
            "national number",
            phone(4242).trim_start_matches("+1").to_owned(),
        ),
        (
            "last 7 digits",
            phone(4242)[phone(4242).len() - 7..].to_owned(),
        ),
    ] {
        let mut hist = Histogram::<u64>::new(3)?;
        let mut found = 0;
        for n in 0..args.searches + 3 {
            let t = Instant::now();
            let hits = store.search_customers_in(&text, 20, Some("1")).await?;
            let us = t.elapsed().as_micros() as u64;
            if n >= 3 {
                hist.record(us.max(1))?;
            }
            found = hits.len();
        }
        println!(
            "search by {what} ({:?}, {} hits, {} searches): p50 {:.1} ms, max {:.1} ms",
            text,
            found,
            args.searches,
            hist.value_at_quantile(0.5) as f64 / 1000.0,
            hist.max() as f64 / 1000.0
        );
    }

    // Outcome writes: concurrent writers (a floor of desktops), each write its own transaction.
    let run = Instant::now().elapsed().as_nanos() ^ (std::process::id() as u128) << 20;
    let t = Instant::now();
    let per = args.outcomes / args.writers;
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..per {
                s.write_outcome(&Outcome {
                    call_id: format!("out-{run}-{w}-{k}"),
                    agent_id: format!("agent{w}"),
                    disposition: "done".into(),
                    notes: "benchmark outcome".into(),
                    wrapup_ms: 15_000,
                    ticket_id: None,
                    at: T0,
                })
                .await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "outcome writes: {} in {:.2} s = {:.0}/s ({} writers)",
        per * args.writers,
        secs,
        (per * args.writers) as f64 / secs,
        args.writers
    );
    store.close().await;
    Ok(())
}
