//! RTCP (`crates/media/src/rtcp.rs`): the compound-packet parser and the report builder.
//!
//! Input format: 4 bytes of "our" SSRC, then the datagram. The same bytes also fill the fields
//! of a report we build (sender info, one report block, CNAME).
//! Properties: `parse` never panics on any datagram; a report we build parses back to the same
//! reporter SSRC, sender info and report block (cumulative loss clamped to 24 bits), with no
//! BYE; the round-trip time and E-model helpers stay finite and in range on what we parsed.
#![no_main]

use hotline_media::rtcp::{self, ReportBlock, SenderInfo};
use libfuzzer_sys::fuzz_target;

fn u32_at(d: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, x) in b.iter_mut().enumerate() {
        *x = d.get(at + i).copied().unwrap_or(0);
    }
    u32::from_be_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let our_ssrc = u32_at(data, 0);
    let datagram = &data[4..];
    if let Ok(info) = rtcp::parse(datagram, our_ssrc)
        && let Some(block) = info.about_us
    {
        assert_eq!(block.ssrc, our_ssrc);
        assert!((-0x80_0000..=0x7F_FFFF).contains(&block.cumulative_lost));
        let now = (u64::from(u32_at(data, 4)) << 32) | u64::from(u32_at(data, 8));
        if let Some(rtt) = rtcp::round_trip_ms(&block, now) {
            assert!(rtt.is_finite() && rtt >= 0.0, "round trip {rtt}");
        }
        let loss = f32::from(block.fraction_lost) * 100.0 / 256.0;
        let (r, mos) = rtcp::e_model(loss, block.jitter as f32 / 8.0);
        // G.107's R-to-MOS polynomial dips just under 1.0 for R below about 6.5, so the
        // lower bound checked here is 0, not 1.
        assert!((0.0..=100.0).contains(&r), "r={r}");
        assert!((0.0..=4.5).contains(&mos), "mos={mos}");
    }

    // Build a report from the input's bytes and parse it back.
    let sender = (data[0] & 1 != 0).then(|| SenderInfo {
        ntp: (u64::from(u32_at(data, 4)) << 32) | u64::from(u32_at(data, 8)),
        rtp_ts: u32_at(data, 12),
        packets: u32_at(data, 16),
        octets: u32_at(data, 20),
    });
    let block = (data[0] & 2 != 0).then(|| ReportBlock {
        ssrc: our_ssrc,
        fraction_lost: data.get(24).copied().unwrap_or(0),
        cumulative_lost: u32_at(data, 25) as i32,
        extended_max_seq: u32_at(data, 29),
        jitter: u32_at(data, 33),
        lsr: u32_at(data, 37),
        dlsr: u32_at(data, 41),
    });
    let reporter = u32_at(data, 45);
    let cname = String::from_utf8_lossy(data.get(49..).unwrap_or(&[]));
    let mut buf = [0u8; 512];
    let n = rtcp::build_report(&mut buf, reporter, sender, block, &cname)
        .expect("512 bytes hold any report with a CNAME of at most 255 bytes");
    let back = rtcp::parse(&buf[..n], our_ssrc).expect("a report we built parses");
    assert_eq!(back.ssrc, reporter);
    assert_eq!(back.sender, sender);
    assert!(!back.bye);
    let expected_block = block.map(|b| ReportBlock {
        cumulative_lost: b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF),
        ..b
    });
    assert_eq!(back.about_us, expected_block);
});
