//! Proves the session survives arbitrary event sequences (random keys, stale or mismatched
//! answers, timers, prompt ends, hang-ups) through the shipped flows without panicking, that
//! no timer is still due right after handle_timeout (no stuck or self-re-arming timer), and
//! that card digits typed at any point never show up in Debug output or the summary.
//! Deterministic: a fixed-seed xorshift generator.

mod common;
use std::path::Path;
use std::time::Duration;

use common::*;
use hotline_ivr::time::{CivilDate, CivilDateTime};
use hotline_ivr::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CARD: &str = "4111111111111111";

#[test]
fn random_event_sequences_never_panic_or_leak_card_digits() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let set = FlowSet::load_dir(&config.join("ivr"), &PromptDir::default_for(&config)).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut finished = 0;
    let (mut charged, mut paid) = (0, 0);
    for round in 0..400 {
        let flow = set
            .get(if round % 4 == 0 { "agent_pay" } else { "main" })
            .unwrap();
        let mut sim = Sim::with_flow(flow);
        sim.s.set_variable("amount_minor", "1500");
        sim.start();
        let mut card_pos = 0usize;
        for _ in 0..300 {
            if sim.s.is_finished() {
                break;
            }
            let r = sim.last_request_opt();
            let stale = RequestId(rng.below(50) as u32);
            let request = if rng.below(5) == 0 {
                stale
            } else {
                r.unwrap_or(stale)
            };
            match rng.below(14) {
                0..=3 => {
                    // At a card prompt, usually the right entry; otherwise noise and
                    // fragments of the card number.
                    let asked = sim
                        .last_play()
                        .map(|(_, p)| p.last().cloned().unwrap_or_default());
                    let right = match asked.as_deref() {
                        Some("phrases/enter-card-number") => Some(format!("{CARD}#")),
                        Some("phrases/enter-expiry") => Some("1230".to_string()),
                        Some("phrases/enter-cvv") => Some("737".to_string()),
                        _ => None,
                    };
                    match right {
                        Some(keys) if rng.below(4) > 0 => {
                            sim.digits(&keys);
                        }
                        _ => {
                            let c = if rng.below(3) == 0 {
                                b"0123456789*#"[rng.below(12) as usize] as char
                            } else {
                                let c = CARD.as_bytes()[card_pos % CARD.len()] as char;
                                card_pos += 1;
                                c
                            };
                            sim.digits(&c.to_string());
                        }
                    }
                }
                4 | 5 => {
                    if sim.last_play().is_some() {
                        sim.finish_prompt();
                    }
                }
                6 => {
                    if sim.s.poll_timeout().is_some() {
                        sim.step();
                    }
                }
                7 => {
                    sim.advance(Duration::from_millis(rng.below(20_000)));
                }
                8 => {
                    let customer = (rng.below(2) == 0).then(|| Customer {
                        id: "c".into(),
                        tier: ["vip", "standard"][rng.below(2) as usize].into(),
                        name: None,
                        attributes: [("balance_minor".to_string(), "2500".to_string())].into(),
                    });
                    sim.event(Event::LookupResult { request, customer });
                }
                9 => {
                    let items = (0..rng.below(4))
                        .map(|i| BookableItem {
                            id: format!("i{i}"),
                            starts_at: CivilDateTime {
                                date: CivilDate {
                                    year: 2027,
                                    month: 1 + (i as u32),
                                    day: 1,
                                },
                                hour: 9,
                                minute: 0,
                            },
                            price_minor: 100 * (i + 1),
                            currency: "USD".into(),
                        })
                        .collect();
                    sim.event(Event::BookableItems { request, items });
                }
                10 => {
                    let hold_id = (rng.below(3) > 0).then(|| "h".to_string());
                    sim.event(Event::HoldResult { request, hold_id });
                }
                11 => {
                    let status = ChargeStatus::Approved;
                    let result = match rng.below(4) {
                        0 => Err("down".to_string()),
                        1 => Ok(ChargeResult {
                            token: "t".into(),
                            brand: CardBrand::Visa,
                            last_four: "1111".into(),
                            status: ChargeStatus::Declined("card_declined".into()),
                        }),
                        _ => Ok(ChargeResult {
                            token: "t".into(),
                            brand: CardBrand::Visa,
                            last_four: "1111".into(),
                            status,
                        }),
                    };
                    sim.event(Event::PaymentResult { request, result });
                }
                12 => {
                    sim.event(Event::QueueStatus {
                        request: Some(request),
                        status: QueueStatus {
                            position: rng.below(20) as u32,
                            waiting: 3,
                            agents_available: rng.below(3) as u32,
                            estimated_wait: Duration::from_secs(rng.below(2000)),
                        },
                    });
                }
                _ => {
                    let e = match rng.below(5) {
                        0 => Event::CallerHungUp,
                        1 => Event::AgentConnected { agent: "a".into() },
                        2 => Event::TransferResult {
                            request,
                            ok: rng.below(2) == 0,
                        },
                        3 => Event::RecordingFinished {
                            request,
                            ticket: (rng.below(2) == 0).then(|| "7".to_string()),
                        },
                        _ => Event::VerifyResult {
                            request,
                            verified: rng.below(2) == 0,
                        },
                    };
                    sim.event(e);
                }
            }
            // Run whatever is due; afterwards no timer may still be due (no timer that
            // re-arms itself at the same instant, no deadline that can never be handled).
            sim.advance(Duration::ZERO);
            if let Some(t) = sim.s.poll_timeout() {
                assert!(
                    t > sim.now,
                    "timer still due after handling it: {:?}",
                    sim.s
                );
            }
            let dbg = format!("{:?}", sim.s);
            assert!(
                !dbg.contains(CARD) && !dbg.contains("411111111111"),
                "{dbg}"
            );
        }
        if sim.s.is_finished() {
            finished += 1;
        }
        charged += sim
            .log
            .iter()
            .filter(|a| matches!(a, Action::Charge { .. }))
            .count();
        paid += usize::from(sim.s.payment().is_some());
        let summary = serde_json::to_string(&sim.s.summary()).unwrap();
        assert!(!summary.contains("411111111111"), "{summary}");
    }
    assert!(
        finished > 100,
        "random walks should end calls often: {finished}"
    );
    // The walks reach card entry and charges, so the leak checks above mean something.
    assert!(charged > 20 && paid > 5, "charged {charged}, paid {paid}");
    println!("rounds finished {finished}, charges {charged}, paid {paid}");
}
