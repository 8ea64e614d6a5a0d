//! Reading prompt files: RIFF/WAVE, 8 kHz mono, 16-bit linear PCM or G.711 (A-law, mu-law).
//!
//! Prompts are read and decoded to linear PCM once, off the media threads (the engine caches
//! them); the media threads only copy samples.

use std::path::Path;
use std::sync::Arc;

use crate::MediaError;
use crate::g711::Law;

/// A decoded prompt: 8 kHz mono linear PCM.
pub type Pcm = Arc<[i16]>;

const FORMAT_PCM: u16 = 1;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Reads and decodes a prompt file.
pub fn read_prompt(path: &Path) -> Result<Pcm, MediaError> {
    let bytes = std::fs::read(path).map_err(|e| MediaError::Io {
        what: format!("reading prompt {}", path.display()),
        source: e,
    })?;
    parse_wav(&bytes).map_err(|e| MediaError::BadWav {
        path: path.display().to_string(),
        reason: e,
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes WAV bytes (8 kHz mono; PCM16, A-law or mu-law). The error says what is wrong.
pub fn parse_wav(b: &[u8]) -> Result<Pcm, &'static str> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file");
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut data: Option<&[u8]> = None;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32_at(b, at + 4).ok_or("truncated chunk header")? as usize;
        let body_start = at + 8;
        let body_end = body_start.saturating_add(len).min(b.len());
        let body = &b[body_start..body_end];
        if id == b"fmt " {
            let mut tag = u16_at(body, 0).ok_or("short fmt chunk")?;
            let channels = u16_at(body, 2).ok_or("short fmt chunk")?;
            let rate = u32_at(body, 4).ok_or("short fmt chunk")?;
            let bits = u16_at(body, 14).ok_or("short fmt chunk")?;
            if tag == FORMAT_EXTENSIBLE {
                tag = u16_at(body, 24).ok_or("short extensible fmt chunk")?;
            }
            fmt = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            data = Some(body);
            break;
        }
        // Chunks are padded to an even length.
        at = body_start.saturating_add(len).saturating_add(len & 1);
    }
    let (tag, channels, rate, bits) = fmt.ok_or("no fmt chunk")?;
    let data = data.ok_or("no data chunk")?;
    if channels != 1 {
        return Err("prompt must be mono");
    }
    if rate != 8000 {
        return Err("prompt must be sampled at 8000 Hz");
    }
    let pcm: Vec<i16> = match (tag, bits) {
        (FORMAT_PCM, 16) => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
        (FORMAT_ALAW, 8) => data.iter().map(|&x| Law::Alaw.decode(x)).collect(),
        (FORMAT_ULAW, 8) => data.iter().map(|&x| Law::Ulaw.decode(x)).collect(),
        _ => return Err("unsupported encoding (need 16-bit PCM, A-law or mu-law)"),
    };
    Ok(pcm.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(tag: u16, bits: u16, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * bits as u32 / 8).to_le_bytes());
        v.extend_from_slice(&(bits / 8).to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"LIST");
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3, 0]); // odd chunk plus pad byte
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_pcm_alaw_ulaw() {
        let pcm = parse_wav(&wav(1, 16, 8000, 1, &[0xE8, 0x03, 0x18, 0xFC])).unwrap();
        assert_eq!(&pcm[..], &[1000, -1000]);
        let a = parse_wav(&wav(6, 8, 8000, 1, &[0xD5, 0xFA])).unwrap();
        assert_eq!(&a[..], &[8, 1008]);
        let u = parse_wav(&wav(7, 8, 8000, 1, &[0xFF, 0xCE])).unwrap();
        assert_eq!(&u[..], &[0, 988]);
    }

    #[test]
    fn rejects_wrong_formats() {
        assert!(parse_wav(&wav(1, 16, 16000, 1, &[0, 0])).is_err());
        assert!(parse_wav(&wav(1, 16, 8000, 2, &[0, 0])).is_err());
        assert!(parse_wav(&wav(3, 32, 8000, 1, &[0, 0, 0, 0])).is_err());
        assert!(parse_wav(b"RIFF").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\xff").is_err());
    }

    #[test]
    fn reads_a_hound_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for s in [5i16, -7, 300] {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        assert_eq!(&read_prompt(&p).unwrap()[..], &[5, -7, 300]);
        assert!(read_prompt(&dir.path().join("missing.wav")).is_err());
    }
}
