//! Deterministic simulation harness: two endpoints joined by a lossless, zero-latency
//! link that a test can make drop chosen messages. Time only moves when the test says so.
#![allow(dead_code)]

use hotline_sip::{Config, Endpoint, Event, Message, StatusCode, Transport};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const A: &str = "10.0.0.1:5060";
pub const B: &str = "10.0.0.2:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One message on the wire, as the sim saw it.
#[derive(Debug, Clone)]
pub struct Wire {
    /// Time since the start of the simulation.
    pub at: Duration,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub dropped: bool,
    pub bytes: Vec<u8>,
}

impl Wire {
    pub fn first_line(&self) -> String {
        String::from_utf8_lossy(&self.bytes)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }
    pub fn msg(&self) -> Message<'_> {
        Message::parse(&self.bytes).unwrap()
    }
    pub fn is_request(&self, method: &str) -> bool {
        self.first_line().starts_with(&format!("{method} "))
    }
    pub fn is_response(&self, code: u16, cseq_method: &str) -> bool {
        let m = self.msg();
        m.status() == Some(StatusCode(code)) && m.cseq().unwrap().method.as_str() == cseq_method
    }
}

pub struct Node {
    pub ep: Endpoint,
    pub addr: SocketAddr,
    pub events: Vec<Event>,
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub wire: Vec<Wire>,
    pub transport: Transport,
    /// Return true to drop a message.
    pub drop: Box<dyn FnMut(&Wire) -> bool>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with_configs(config(A, 1), config(B, 2))
    }

    pub fn with_configs(a: Config, b: Config) -> Sim {
        let start = Instant::now();
        let nodes = vec![
            Node {
                ep: Endpoint::new(a),
                addr: addr(A),
                events: Vec::new(),
            },
            Node {
                ep: Endpoint::new(b),
                addr: addr(B),
                events: Vec::new(),
            },
        ];
        Sim {
            start,
            now: start,
            nodes,
            wire: Vec::new(),
            transport: Transport::Udp,
            drop: Box::new(|_| false),
        }
    }

    pub fn a(&mut self) -> &mut Node {
        &mut self.nodes[0]
    }

    pub fn b(&mut self) -> &mut Node {
        &mut self.nodes[1]
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Deliver every queued transmit (and whatever it causes) at the current time.
    pub fn flush(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].ep.poll_transmit() {
                    moved = true;
                    let mut w = Wire {
                        at: self.elapsed(),
                        from: self.nodes[i].addr,
                        to: t.dst,
                        dropped: false,
                        bytes: t.payload,
                    };
                    w.dropped = (self.drop)(&w);
                    let deliver = !w.dropped;
                    let (from, bytes) = (w.from, w.bytes.clone());
                    self.wire.push(w);
                    if deliver && let Some(j) = self.nodes.iter().position(|n| n.addr == t.dst) {
                        let now = self.now;
                        self.nodes[j]
                            .ep
                            .handle_datagram(now, from, self.transport, &bytes);
                    }
                }
            }
            for n in &mut self.nodes {
                while let Some(e) = n.ep.poll_event() {
                    n.events.push(e);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("message storm: flush did not settle");
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.ep.poll_timeout())
            .min()
    }

    /// Jump to the next timer and fire it. False when no timer is armed.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(at) = self.next_deadline() else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        for n in &mut self.nodes {
            n.ep.handle_timeout(now);
        }
        self.flush();
        true
    }

    /// Run timers until `t` after the start; time ends at exactly `t`.
    pub fn run_until(&mut self, t: Duration) {
        let end = self.start + t;
        self.flush();
        while let Some(at) = self.next_deadline() {
            if at > end {
                break;
            }
            self.step();
        }
        self.now = self.now.max(end);
        self.flush();
    }

    /// Run until no timer is armed; panics after `max_steps` (a retransmission storm).
    pub fn drive_bounded(&mut self, max_steps: usize) {
        for _ in 0..max_steps {
            if !self.step() {
                return;
            }
        }
        panic!("not idle after {max_steps} steps");
    }

    pub fn sent(&self, from: &str, pred: impl Fn(&Wire) -> bool) -> Vec<&Wire> {
        self.wire
            .iter()
            .filter(|w| w.from == addr(from) && pred(w))
            .collect()
    }
}

pub fn config(sent_by: &str, seed: u64) -> Config {
    Config {
        sent_by: sent_by.into(),
        seed,
        ..Config::default()
    }
}

/// An INVITE from A to B with an SDP offer, without Via (the endpoint adds it).
pub fn invite(call_id: &str, from_tag: &str) -> Message<'static> {
    let mut m = Message::request(hotline_sip::Method::Invite, "sip:bob@10.0.0.2");
    m.push_header("From", format!("<sip:alice@10.0.0.1>;tag={from_tag}"));
    m.push_header("To", "<sip:bob@10.0.0.2>");
    m.push_header("Call-ID", call_id.to_string());
    m.push_header("CSeq", "1 INVITE");
    m.push_header("Contact", "<sip:alice@10.0.0.1:5060>");
    m.set_body("application/sdp", b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec());
    m
}

/// Take the first event matching `f` out of a node's event list.
pub fn take_event<T>(events: &mut Vec<Event>, f: impl Fn(&Event) -> Option<T>) -> Option<T> {
    let i = events.iter().position(|e| f(e).is_some())?;
    f(&events.remove(i))
}

pub fn take_request(n: &mut Node) -> Option<(hotline_sip::TsxId, Message<'static>)> {
    take_event(&mut n.events, |e| match e {
        Event::Request { tsx, request, .. } => Some((*tsx, request.clone())),
        _ => None,
    })
}

pub fn take_response(n: &mut Node) -> Option<(hotline_sip::TsxId, Message<'static>, bool)> {
    take_event(&mut n.events, |e| match e {
        Event::Response {
            tsx,
            response,
            local,
        } => Some((*tsx, response.clone(), *local)),
        _ => None,
    })
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}
