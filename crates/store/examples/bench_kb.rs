//! Knowledge-base benchmark: agents' searches and screen-pop suggestions over many generated
//! articles (10,000 by default, one in ten in Chinese), with p50/p99 per kind of query.
//!
//! ```text
//! cargo run -p hotline-store --example bench_kb
//! cargo run -p hotline-store --example bench_kb -- --url postgres://postgres@127.0.0.1:5432/test
//! ```
//! On SQLite the database is a fresh file under `target/bench-data`; on PostgreSQL a fresh
//! schema `hotline_kb_bench` (dropped first). Articles come from a seeded generator, so every
//! run searches the same data.

use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use hotline_store::*;

#[derive(Parser)]
struct Args {
    /// Database URL (default: a SQLite file under target/bench-data).
    #[arg(long)]
    url: Option<String>,
    /// Articles to generate.
    #[arg(long, default_value_t = 10_000)]
    articles: usize,
    /// Searches to time per kind.
    #[arg(long, default_value_t = 500)]
    searches: usize,
}

const T0: Millis = 1_780_000_000_000;

const SUBJECTS: &[&str] = &[
    "refund",
    "baggage",
    "booking",
    "seat",
    "router",
    "modem",
    "invoice",
    "payment",
    "card",
    "wifi",
    "password",
    "upgrade",
    "voucher",
    "meal",
    "lounge",
    "passport",
    "visa",
    "delay",
    "cancellation",
    "insurance",
    "contract",
    "roaming",
    "sim",
    "porting",
    "firmware",
    "tv",
    "voicemail",
    "complaint",
    "loyalty",
    "miles",
];
const ACTIONS: &[&str] = &[
    "request", "change", "cancel", "reset", "explain", "transfer", "replace", "check", "renew",
    "claim", "track", "activate", "close", "dispute", "confirm",
];
const FILLER: &[&str] = &[
    "customer",
    "account",
    "agent",
    "ticket",
    "flight",
    "fee",
    "days",
    "business",
    "portal",
    "confirm",
    "address",
    "email",
    "status",
    "number",
    "policy",
    "approve",
    "manager",
    "line",
    "engineer",
    "device",
    "network",
    "bill",
    "month",
    "plan",
    "charge",
    "credit",
    "date",
    "deadline",
    "receipt",
    "reference",
    "escalate",
    "callback",
    "order",
    "delivery",
    "support",
    "secure",
    "identity",
    "verify",
    "limit",
    "fare",
    "airport",
    "gate",
    "terminal",
    "schedule",
];
const ZH_SUBJECTS: &[&str] = &[
    "退款",
    "行李",
    "改签",
    "座位",
    "路由器",
    "账单",
    "支付",
    "发票",
    "密码",
    "代金券",
    "护照",
    "延误",
    "保险",
    "合同",
    "积分",
];
const ZH_FILLER: &[&str] = &[
    "客户",
    "账户",
    "坐席",
    "工单",
    "航班",
    "费用",
    "工作日",
    "地址",
    "邮件",
    "状态",
    "号码",
    "政策",
    "经理",
    "线路",
    "工程师",
    "设备",
    "网络",
    "月份",
    "套餐",
    "收据",
    "参考号",
    "升级",
];
const QUEUES: &[&str] = &["sales", "support", "billing", "vip"];

/// A small deterministic generator (64-bit LCG), so every run has the same articles.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next(from.len())]
    }
}

fn generate(n: usize) -> Vec<NewArticle> {
    let mut rng = Lcg(42);
    (0..n)
        .map(|i| {
            let zh = i % 10 == 9;
            let (title, body, tags, language) = if zh {
                let subject = rng.pick(ZH_SUBJECTS);
                let title = format!("{}{}问题 {i}", subject, rng.pick(ZH_FILLER));
                let body: String = (0..60)
                    .map(|k| {
                        let w = if k % 7 == 0 {
                            subject
                        } else {
                            rng.pick(ZH_FILLER)
                        };
                        if k % 12 == 11 {
                            format!("{w}。")
                        } else {
                            w.to_string()
                        }
                    })
                    .collect();
                (title, body, vec![subject.to_string()], Language::Zh)
            } else {
                let subject = rng.pick(SUBJECTS);
                let action = rng.pick(ACTIONS);
                let title = format!("{action} a {subject} {} (case {i})", rng.pick(FILLER));
                let words: Vec<&str> = (0..120)
                    .map(|k| match k % 9 {
                        0 => subject,
                        4 => rng.pick(SUBJECTS),
                        7 => rng.pick(ACTIONS),
                        _ => rng.pick(FILLER),
                    })
                    .collect();
                let body = words
                    .chunks(15)
                    .map(|c| format!("{}.", c.join(" ")))
                    .collect::<Vec<_>>()
                    .join(" ");
                let tags = vec![subject.to_string(), action.to_string()];
                (title, body, tags, Language::En)
            };
            NewArticle {
                title,
                body,
                tags,
                queues: vec![rng.pick(QUEUES).to_string()],
                ivr_reasons: vec![rng.pick(&QUEUES[..3]).to_string()],
                language,
                // Most are published; some drafts and archived ones stay in the index.
                status: match rng.next(20) {
                    0 => ArticleStatus::Draft,
                    1 => ArticleStatus::Archived,
                    _ => ArticleStatus::Published,
                },
                author: "bench".into(),
            }
        })
        .collect()
}

async fn open(args: &Args) -> Result<(Store, String), Box<dyn std::error::Error>> {
    let url = match &args.url {
        Some(u) if u.starts_with("postgres") => {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(u).await?;
            sqlx::query("DROP SCHEMA IF EXISTS hotline_kb_bench CASCADE")
                .execute(&admin)
                .await?;
            sqlx::query("CREATE SCHEMA hotline_kb_bench")
                .execute(&admin)
                .await?;
            admin.close().await;
            let sep = if u.contains('?') { '&' } else { '?' };
            format!("{u}{sep}options=-c%20search_path%3Dhotline_kb_bench")
        }
        Some(u) => u.clone(),
        None => {
            let path = format!("target/bench-data/kb-{}.db", args.articles);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
            format!("sqlite://{path}")
        }
    };
    Ok((Store::open(&url, StoreOptions::default()).await?, url))
}

fn report(kind: &str, h: &Histogram<u64>, hits: usize) {
    println!(
        "{kind:<28} n={:<5} p50={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms  (mean {:.1} hits)",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        hits as f64 / h.len().max(1) as f64,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (store, url) = open(&args).await?;
    println!(
        "backend: {:?}, build: {}",
        store.backend(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let started = Instant::now();
    let seeded = store
        .seed_knowledge_base(
            &KbSeed {
                articles: generate(args.articles),
            },
            T0,
        )
        .await?;
    println!("{seeded:?} in {:.1} s", started.elapsed().as_secs_f64());
    // Fresh planner statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would give.
    let stats = sqlx::AnyPool::connect(&url).await?;
    sqlx::query("ANALYZE").execute(&stats).await?;
    stats.close().await;

    let english = [
        "customer wants refund for cancelled flight",
        "router keeps rebooting",
        "how to pay invoice",
        "lost baggage claim",
        "change booking date",
        "reset wifi password",
        "dispute a charge on the bill",
        "roaming sim activate",
    ];
    let chinese = [
        "客户要退款",
        "行李丢了",
        "怎么支付账单",
        "路由器密码",
        "护照",
    ];
    let kinds: [(&str, &[&str]); 2] = [
        ("search, English (full text)", &english),
        ("search, Chinese (bigrams)", &chinese),
    ];
    for (kind, queries) in kinds {
        let mut h = Histogram::<u64>::new(3)?;
        let mut hits = 0;
        for i in 0..args.searches {
            let q = queries[i % queries.len()];
            let t = Instant::now();
            hits += store.search_articles(q, None, 10).await?.len();
            h.record(t.elapsed().as_micros() as u64)?;
        }
        report(kind, &h, hits);
    }
    let mut h = Histogram::<u64>::new(3)?;
    let mut hits = 0;
    for i in 0..args.searches {
        let t = Instant::now();
        hits += store
            .suggest_articles(
                Some(QUEUES[i % 4]),
                Some(QUEUES[i % 3]),
                Some(Language::En),
                5,
            )
            .await?
            .len();
        h.record(t.elapsed().as_micros() as u64)?;
    }
    report("suggestions (queue, reason)", &h, hits);
    store.close().await;
    Ok(())
}
