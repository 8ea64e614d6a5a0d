//! G.711 (ITU-T, 1988): mu-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8).
//!
//! Decoding is a 256-entry table built at compile time. Encoding is a 64 Ki-entry table built once
//! on first use from the reference segment algorithm ([`linear_to_ulaw`], [`linear_to_alaw`]), so
//! the per-sample cost on the media threads is one load. Transcoding between the two laws is a
//! 256-entry byte table and never touches linear PCM.

use std::sync::LazyLock;

/// A G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// mu-law, PCMU, static RTP payload type 0.
    Ulaw,
    /// A-law, PCMA, static RTP payload type 8.
    Alaw,
}

impl Law {
    /// The static RTP payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The law for a static payload type, `None` for anything else.
    pub const fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The byte that encodes silence (linear 0).
    pub const fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// Decodes one byte.
    #[inline]
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Ulaw => ULAW_DECODE[byte as usize],
            Law::Alaw => ALAW_DECODE[byte as usize],
        }
    }

    /// Encodes one linear sample.
    #[inline]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Ulaw => ULAW_ENCODE[sample as u16 as usize],
            Law::Alaw => ALAW_ENCODE[sample as u16 as usize],
        }
    }

    /// Decodes `src` into `dst` (up to the shorter length); returns the count written.
    pub fn decode_into(self, src: &[u8], dst: &mut [i16]) -> usize {
        let table = match self {
            Law::Ulaw => &ULAW_DECODE,
            Law::Alaw => &ALAW_DECODE,
        };
        let n = src.len().min(dst.len());
        for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
            *d = table[*s as usize];
        }
        n
    }

    /// Encodes `src` into `dst` (up to the shorter length); returns the count written.
    pub fn encode_into(self, src: &[i16], dst: &mut [u8]) -> usize {
        let table: &[u8; 65536] = match self {
            Law::Ulaw => &ULAW_ENCODE,
            Law::Alaw => &ALAW_ENCODE,
        };
        let n = src.len().min(dst.len());
        for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
            *d = table[*s as u16 as usize];
        }
        n
    }
}

/// Rewrites G.711 bytes in place from one law to the other (no-op when they are equal).
pub fn transcode_in_place(from: Law, to: Law, bytes: &mut [u8]) {
    let table = match (from, to) {
        (Law::Ulaw, Law::Alaw) => &ULAW_TO_ALAW,
        (Law::Alaw, Law::Ulaw) => &ALAW_TO_ULAW,
        _ => return,
    };
    for b in bytes {
        *b = table[*b as usize];
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// Reference mu-law encoder (segment search), used to build the encode table.
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign: i32 = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    if s > ULAW_CLIP {
        s = ULAW_CLIP;
    }
    s += ULAW_BIAS;
    // exponent = position of the highest set bit among bits 7..14.
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && (s & mask) == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Reference mu-law decoder.
pub const fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte as i32;
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

/// Reference A-law encoder (segment search on the 13-bit magnitude), used to build the table.
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask: i32;
    if pcm >= 0 {
        mask = 0xD5;
    } else {
        mask = 0x55;
        pcm = -pcm - 1;
    }
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut seg = 0;
    while seg < 8 && pcm > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = (seg as i32) << 4;
    if seg < 2 {
        aval |= (pcm >> 1) & 0x0F;
    } else {
        aval |= (pcm >> seg) & 0x0F;
    }
    (aval ^ mask) as u8
}

/// Reference A-law decoder.
pub const fn alaw_to_linear(byte: u8) -> i16 {
    let a = (byte ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_decode(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    t
}

const fn build_cross(from_alaw: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if from_alaw {
            linear_to_ulaw(alaw_to_linear(i as u8))
        } else {
            linear_to_alaw(ulaw_to_linear(i as u8))
        };
        i += 1;
    }
    t
}

/// mu-law byte to linear sample.
pub static ULAW_DECODE: [i16; 256] = build_decode(false);
/// A-law byte to linear sample.
pub static ALAW_DECODE: [i16; 256] = build_decode(true);
/// mu-law byte to the A-law byte of the same value.
pub static ULAW_TO_ALAW: [u8; 256] = build_cross(false);
/// A-law byte to the mu-law byte of the same value.
pub static ALAW_TO_ULAW: [u8; 256] = build_cross(true);

static ULAW_ENCODE: LazyLock<Box<[u8; 65536]>> = LazyLock::new(|| build_encode(linear_to_ulaw));
static ALAW_ENCODE: LazyLock<Box<[u8; 65536]>> = LazyLock::new(|| build_encode(linear_to_alaw));

fn build_encode(f: fn(i16) -> u8) -> Box<[u8; 65536]> {
    let mut t = Box::new([0u8; 65536]);
    for (i, slot) in t.iter_mut().enumerate() {
        *slot = f(i as u16 as i16);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ulaw_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        // Segment edges from the G.711 table: code 0xEF decodes to 32+... (segment 1 start).
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(ulaw_to_linear(0xCE), 988);
    }

    #[test]
    fn known_alaw_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(alaw_to_linear(0xFA), 1008);
    }

    #[test]
    fn every_code_round_trips() {
        for law in [Law::Ulaw, Law::Alaw] {
            for b in 0..=255u8 {
                let lin = law.decode(b);
                let back = law.encode(lin);
                // mu-law has two zeros (0x7F and 0xFF); both decode to 0 and 0 encodes to 0xFF.
                if law == Law::Ulaw && b == 0x7F {
                    assert_eq!(back, 0xFF);
                } else {
                    assert_eq!(back, b, "{law:?} code {b:#x} -> {lin} -> {back:#x}");
                }
            }
        }
    }

    #[test]
    fn quantization_error_is_bounded_by_segment_step() {
        for law in [Law::Ulaw, Law::Alaw] {
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let back = law.decode(law.encode(s)) as i32;
                let err = (back - s as i32).abs();
                // The largest step is 1024 (mu-law) / 1024 (A-law) in the top segment, plus clip.
                let bound = (s as i32).abs() / 16 + 640;
                assert!(err <= bound, "{law:?} {s} -> {back} err {err}");
            }
        }
    }

    #[test]
    fn table_matches_reference() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(Law::Ulaw.encode(s), linear_to_ulaw(s));
            assert_eq!(Law::Alaw.encode(s), linear_to_alaw(s));
        }
    }

    #[test]
    fn transcoding_preserves_value_approximately() {
        for b in 0..=255u8 {
            let mut x = [b];
            transcode_in_place(Law::Ulaw, Law::Alaw, &mut x);
            let a = Law::Alaw.decode(x[0]) as i32;
            let u = Law::Ulaw.decode(b) as i32;
            assert!((a - u).abs() <= u.abs() / 16 + 16, "u {u} a {a}");
            transcode_in_place(Law::Alaw, Law::Ulaw, &mut x);
            let u2 = Law::Ulaw.decode(x[0]) as i32;
            assert!((u2 - u).abs() <= u.abs() / 16 + 16, "u {u} u2 {u2}");
        }
        let mut same = [1u8, 2, 3];
        transcode_in_place(Law::Ulaw, Law::Ulaw, &mut same);
        assert_eq!(same, [1, 2, 3]);
    }

    #[test]
    fn slice_helpers() {
        let pcm = [0i16, 1000, -1000, 32000];
        let mut enc = [0u8; 4];
        assert_eq!(Law::Ulaw.encode_into(&pcm, &mut enc), 4);
        let mut dec = [0i16; 4];
        assert_eq!(Law::Ulaw.decode_into(&enc, &mut dec), 4);
        assert_eq!(dec[0], 0);
        assert_eq!(dec[1], 988);
        assert_eq!(dec[2], -988);
        assert_eq!(Law::from_payload_type(8), Some(Law::Alaw));
        assert_eq!(Law::from_payload_type(9), None);
    }
}
