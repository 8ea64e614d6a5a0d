//! Ports for the test peers (sipp, test phones, the switch's SIP and HTTP listeners), taken
//! below the kernel's ephemeral range (32768-60999 by default). A port asked of the kernel with
//! `bind(0)` comes from that range and can be handed to any other socket (a PostgreSQL
//! connection, a sipp's own client socket) between our check and the child's bind, which CI
//! once met as sipp's "Unable to bind main socket, errno 98". Ports here are never
//! auto-assigned, each test process starts at its own offset, and a counter keeps the threads
//! of one test binary apart.

#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

const LOW: u32 = 12_000;
const HIGH: u32 = 32_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The first of `n` consecutive ports (an even one) free now on 127.0.0.1 for UDP and TCP.
pub fn take(n: u16) -> u16 {
    let n = u32::from(n.max(1));
    let span = HIGH - LOW;
    let start = (std::process::id() % 64) * (span / 64);
    for _ in 0..2_000 {
        let offset = NEXT.fetch_add(n + (n & 1), Ordering::SeqCst);
        let base = (LOW + (start + offset) % (span - n - 1)) & !1;
        let free = (0..n).all(|i| {
            let port = (base + i) as u16;
            UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
        });
        if free {
            return base as u16;
        }
    }
    panic!("no {n} free ports between {LOW} and {HIGH}");
}
