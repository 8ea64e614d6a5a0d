//! SDP (RFC 4566) and offer/answer (RFC 3264) for the audio Hotline needs: G.711 mu-law (PT 0)
//! and A-law (PT 8), RFC 4733 telephone-event on a dynamic payload type, ptime, the direction
//! attributes used for hold (sendonly / recvonly / inactive), and the connection address and port.
//!
//! The parser keeps every line it does not model in `other`, so a description survives a
//! parse/print round trip.

use crate::{Error, Result};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Media direction (RFC 3264 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive (the default).
    SendRecv,
    /// Send only: we put the peer on hold (music on hold flows from us).
    SendOnly,
    /// Receive only: the peer put us on hold.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Direction> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// Does this side send media?
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Does this side receive media?
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The answerer's direction given the offer's and what the answerer wants (RFC 3264 6.1).
    pub fn answer(offered: Direction, wanted: Direction) -> Direction {
        let send = offered.receives() && wanted.sends();
        let recv = offered.sends() && wanted.receives();
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// Audio codecs we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 mu-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// Static payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// rtpmap encoding name.
    pub fn encoding(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name.
    pub encoding: String,
    /// Clock rate.
    pub clock: u32,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ...
    pub kind: String,
    /// Port (0 = rejected / disabled).
    pub port: u16,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub proto: String,
    /// Format list (payload types for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// rtpmap attributes.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=ptime`.
    pub ptime: Option<u32>,
    /// Media-level direction attribute.
    pub direction: Option<Direction>,
    /// Other attribute lines, verbatim after `a=`.
    pub other: Vec<String>,
    /// Other non-attribute lines of the section (`i=`, `b=`, `k=`), verbatim.
    pub lines: Vec<String>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` username.
    pub origin_user: String,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version; increment it in every new offer of a session (RFC 3264 8).
    pub session_version: u64,
    /// `o=` address.
    pub origin_addr: IpAddr,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// Other session-level lines (`t=`, `b=`, `a=`...), verbatim including the `x=` prefix.
    pub other: Vec<String>,
    /// Media sections.
    pub media: Vec<Media>,
}

fn sdp_err(reason: &'static str) -> Error {
    Error::Sdp(reason)
}

fn parse_c(v: &str) -> Result<IpAddr> {
    let mut it = v.split_whitespace();
    let (nt, at, addr) = (it.next(), it.next(), it.next());
    if nt != Some("IN") || !matches!(at, Some("IP4") | Some("IP6")) {
        return Err(sdp_err("bad c= line"));
    }
    let addr = addr.ok_or(sdp_err("bad c= line"))?;
    addr.split('/')
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| sdp_err("bad c= address"))
}

fn fmt_addr(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => format!("IN IP4 {v4}"),
        IpAddr::V6(v6) => format!("IN IP6 {v6}"),
    }
}

impl SessionDescription {
    /// Parse SDP text (CRLF or LF line ends).
    pub fn parse(text: &str) -> Result<SessionDescription> {
        let mut sd: Option<SessionDescription> = None;
        let mut version_seen = false;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (t, v) = line.split_once('=').ok_or(sdp_err("line without ="))?;
            if t.len() != 1 {
                return Err(sdp_err("bad line type"));
            }
            match t {
                "v" => {
                    if v != "0" {
                        return Err(sdp_err("v= must be 0"));
                    }
                    version_seen = true;
                }
                "o" => {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    if f.len() != 6 {
                        return Err(sdp_err("bad o= line"));
                    }
                    sd = Some(SessionDescription {
                        origin_user: f[0].to_string(),
                        session_id: f[1].parse().map_err(|_| sdp_err("bad o= session id"))?,
                        session_version: f[2].parse().map_err(|_| sdp_err("bad o= version"))?,
                        origin_addr: f[5].parse().map_err(|_| sdp_err("bad o= address"))?,
                        session_name: "-".into(),
                        connection: None,
                        direction: None,
                        other: Vec::new(),
                        media: Vec::new(),
                    });
                }
                _ => {
                    let s = sd
                        .as_mut()
                        .ok_or(sdp_err("o= must come before other lines"))?;
                    match (t, s.media.last_mut()) {
                        ("m", _) => {
                            let f: Vec<&str> = v.split_whitespace().collect();
                            if f.len() < 3 {
                                return Err(sdp_err("bad m= line"));
                            }
                            let port = f[1]
                                .split('/')
                                .next()
                                .unwrap_or("")
                                .parse()
                                .map_err(|_| sdp_err("bad m= port"))?;
                            s.media.push(Media {
                                kind: f[0].to_string(),
                                port,
                                proto: f[2].to_string(),
                                formats: f[3..].iter().map(|x| x.to_string()).collect(),
                                connection: None,
                                rtpmaps: Vec::new(),
                                ptime: None,
                                direction: None,
                                other: Vec::new(),
                                lines: Vec::new(),
                            });
                        }
                        ("s", None) => s.session_name = v.to_string(),
                        ("c", None) => s.connection = Some(parse_c(v)?),
                        ("c", Some(m)) => m.connection = Some(parse_c(v)?),
                        ("a", target) => {
                            let (name, value) = match v.split_once(':') {
                                Some((n, val)) => (n, Some(val)),
                                None => (v, None),
                            };
                            match (target, name, value) {
                                (None, d, None) if Direction::parse(d).is_some() => {
                                    s.direction = Direction::parse(d)
                                }
                                (None, _, _) => s.other.push(line.to_string()),
                                (Some(m), d, None) if Direction::parse(d).is_some() => {
                                    m.direction = Direction::parse(d)
                                }
                                (Some(m), "rtpmap", Some(val)) => {
                                    let (pt, enc) =
                                        val.split_once(' ').ok_or(sdp_err("bad rtpmap"))?;
                                    let mut e = enc.trim().split('/');
                                    m.rtpmaps.push(RtpMap {
                                        pt: pt
                                            .parse()
                                            .map_err(|_| sdp_err("bad rtpmap payload type"))?,
                                        encoding: e.next().unwrap_or("").to_string(),
                                        clock: e
                                            .next()
                                            .unwrap_or("")
                                            .parse()
                                            .map_err(|_| sdp_err("bad rtpmap clock"))?,
                                    });
                                }
                                (Some(m), "ptime", Some(val)) => {
                                    m.ptime =
                                        Some(val.trim().parse().map_err(|_| sdp_err("bad ptime"))?)
                                }
                                (Some(m), _, _) => m.other.push(v.to_string()),
                            }
                        }
                        (_, None) => s.other.push(line.to_string()),
                        (_, Some(m)) => m.lines.push(line.to_string()),
                    }
                }
            }
        }
        if !version_seen {
            return Err(sdp_err("missing v= line"));
        }
        sd.ok_or(sdp_err("missing o= line"))
    }

    /// Effective direction of a media section (media level, else session level, else sendrecv).
    pub fn direction_of(&self, m: &Media) -> Direction {
        m.direction
            .or(self.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// The first audio section with a non-zero port.
    pub fn audio(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.kind == "audio" && m.port != 0)
    }

    /// Print as CRLF text.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v=0\r\no={} {} {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            fmt_addr(&self.origin_addr),
            self.session_name
        )?;
        if let Some(c) = &self.connection {
            write!(f, "c={}\r\n", fmt_addr(c))?;
        }
        let has_t = self.other.iter().any(|l| l.starts_with("t="));
        if !has_t {
            f.write_str("t=0 0\r\n")?;
        }
        for l in &self.other {
            write!(f, "{l}\r\n")?;
        }
        if let Some(d) = self.direction {
            write!(f, "a={}\r\n", d.as_str())?;
        }
        for m in &self.media {
            write!(f, "m={} {} {}", m.kind, m.port, m.proto)?;
            for fmt_ in &m.formats {
                write!(f, " {fmt_}")?;
            }
            f.write_str("\r\n")?;
            for l in &m.lines {
                write!(f, "{l}\r\n")?;
            }
            if let Some(c) = &m.connection {
                write!(f, "c={}\r\n", fmt_addr(c))?;
            }
            for r in &m.rtpmaps {
                write!(f, "a=rtpmap:{} {}/{}\r\n", r.pt, r.encoding, r.clock)?;
            }
            for l in &m.other {
                write!(f, "a={l}\r\n")?;
            }
            if let Some(p) = m.ptime {
                write!(f, "a=ptime:{p}\r\n")?;
            }
            if let Some(d) = m.direction {
                write!(f, "a={}\r\n", d.as_str())?;
            }
        }
        Ok(())
    }
}

/// What we can do, in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioCaps {
    /// Codecs in our preference order.
    pub codecs: Vec<Codec>,
    /// Payload type we offer telephone-event on (`None`: no RFC 4733 DTMF).
    pub telephone_event: Option<u8>,
    /// Packetization time in ms.
    pub ptime: u32,
}

impl Default for AudioCaps {
    fn default() -> Self {
        AudioCaps {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: Some(101),
            ptime: 20,
        }
    }
}

/// The outcome of an offer/answer exchange for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Payload type of telephone-event to send and expect, if both support it.
    pub telephone_event: Option<u8>,
    /// Packetization time (ms) to send with.
    pub ptime: u32,
    /// Our direction.
    pub direction: Direction,
    /// Where to send RTP; `None` when the peer gave port 0 or the null address (hold, RFC 2543 style).
    pub remote: Option<SocketAddr>,
}

/// Build an audio offer.
pub fn offer(
    caps: &AudioCaps,
    addr: IpAddr,
    port: u16,
    direction: Direction,
    session_id: u64,
    version: u64,
) -> SessionDescription {
    let mut formats: Vec<String> = caps
        .codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    let mut rtpmaps: Vec<RtpMap> = caps
        .codecs
        .iter()
        .map(|c| RtpMap {
            pt: c.payload_type(),
            encoding: c.encoding().into(),
            clock: 8000,
        })
        .collect();
    let mut other = Vec::new();
    if let Some(pt) = caps.telephone_event {
        formats.push(pt.to_string());
        rtpmaps.push(RtpMap {
            pt,
            encoding: "telephone-event".into(),
            clock: 8000,
        });
        other.push(format!("fmtp:{pt} 0-16"));
    }
    SessionDescription {
        origin_user: "hotline".into(),
        session_id,
        session_version: version,
        origin_addr: addr,
        session_name: "hotline".into(),
        connection: Some(addr),
        direction: None,
        other: Vec::new(),
        media: vec![Media {
            kind: "audio".into(),
            port,
            proto: "RTP/AVP".into(),
            formats,
            connection: None,
            rtpmaps,
            ptime: Some(caps.ptime),
            direction: Some(direction),
            other,
            lines: Vec::new(),
        }],
    }
}

fn codec_of(m: &Media, fmt_: &str) -> Option<Codec> {
    let pt: u8 = fmt_.parse().ok()?;
    match m.rtpmaps.iter().find(|r| r.pt == pt) {
        Some(r) if r.clock == 8000 && r.encoding.eq_ignore_ascii_case("PCMU") => Some(Codec::Pcmu),
        Some(r) if r.clock == 8000 && r.encoding.eq_ignore_ascii_case("PCMA") => Some(Codec::Pcma),
        Some(_) => None,
        None if pt == 0 => Some(Codec::Pcmu),
        None if pt == 8 => Some(Codec::Pcma),
        None => None,
    }
}

fn telephone_event_of(m: &Media) -> Option<u8> {
    m.rtpmaps
        .iter()
        .find(|r| {
            r.encoding.eq_ignore_ascii_case("telephone-event")
                && r.clock == 8000
                && m.formats.iter().any(|f| f.parse() == Ok(r.pt))
        })
        .map(|r| r.pt)
}

fn remote_of(sd: &SessionDescription, m: &Media) -> Option<SocketAddr> {
    let ip = m.connection.or(sd.connection)?;
    (m.port != 0 && !ip.is_unspecified()).then(|| SocketAddr::new(ip, m.port))
}

/// Answer an offer (RFC 3264 6): keep the offerer's codec order, pick the first codec we
/// support, echo its telephone-event payload type, answer the direction (`wanted` is ours:
/// `SendRecv` normally, `SendOnly`/`Inactive` when we hold), and reject every other stream
/// with port 0. `Err` means 488 Not Acceptable Here.
pub fn answer(
    offer: &SessionDescription,
    caps: &AudioCaps,
    addr: IpAddr,
    port: u16,
    wanted: Direction,
    session_id: u64,
    version: u64,
) -> Result<(SessionDescription, Negotiated)> {
    let mut media = Vec::with_capacity(offer.media.len());
    let mut chosen: Option<Negotiated> = None;
    for m in &offer.media {
        let usable =
            chosen.is_none() && m.kind == "audio" && m.port != 0 && m.proto.starts_with("RTP/AVP");
        let codec = if usable {
            m.formats
                .iter()
                .filter_map(|f| codec_of(m, f))
                .find(|c| caps.codecs.contains(c))
        } else {
            None
        };
        let Some(codec) = codec else {
            media.push(Media {
                kind: m.kind.clone(),
                port: 0,
                proto: m.proto.clone(),
                formats: m.formats.iter().take(1).cloned().collect(),
                connection: None,
                rtpmaps: Vec::new(),
                ptime: None,
                direction: None,
                other: Vec::new(),
                lines: Vec::new(),
            });
            continue;
        };
        let te = if caps.telephone_event.is_some() {
            telephone_event_of(m)
        } else {
            None
        };
        let dir = Direction::answer(offer.direction_of(m), wanted);
        let ptime = m.ptime.unwrap_or(caps.ptime);
        let mut formats = vec![codec.payload_type().to_string()];
        let mut rtpmaps = vec![RtpMap {
            pt: codec.payload_type(),
            encoding: codec.encoding().into(),
            clock: 8000,
        }];
        let mut other = Vec::new();
        if let Some(pt) = te {
            formats.push(pt.to_string());
            rtpmaps.push(RtpMap {
                pt,
                encoding: "telephone-event".into(),
                clock: 8000,
            });
            other.push(format!("fmtp:{pt} 0-16"));
        }
        media.push(Media {
            kind: "audio".into(),
            port,
            proto: m.proto.clone(),
            formats,
            connection: None,
            rtpmaps,
            ptime: Some(ptime),
            direction: Some(dir),
            other,
            lines: Vec::new(),
        });
        chosen = Some(Negotiated {
            codec,
            telephone_event: te,
            ptime,
            direction: dir,
            remote: remote_of(offer, m),
        });
    }
    let negotiated = chosen.ok_or(sdp_err("no common audio codec"))?;
    let sd = SessionDescription {
        origin_user: "hotline".into(),
        session_id,
        session_version: version,
        origin_addr: addr,
        session_name: "hotline".into(),
        connection: Some(addr),
        direction: None,
        other: Vec::new(),
        media,
    };
    Ok((sd, negotiated))
}

/// What an answer to our offer means for us.
pub fn negotiated_from_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated> {
    let ours = our_offer.audio().ok_or(sdp_err("our offer has no audio"))?;
    let idx = our_offer
        .media
        .iter()
        .position(|m| std::ptr::eq(m, ours))
        .unwrap_or(0);
    let theirs = answer
        .media
        .get(idx)
        .ok_or(sdp_err("answer lacks the audio stream"))?;
    if theirs.port == 0 {
        return Err(sdp_err("audio rejected"));
    }
    let codec = theirs
        .formats
        .iter()
        .filter_map(|f| codec_of(theirs, f))
        .next()
        .ok_or(sdp_err("no codec in answer"))?;
    let their_dir = answer.direction_of(theirs);
    let dir = match their_dir {
        Direction::SendRecv => our_offer.direction_of(ours),
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
    };
    Ok(Negotiated {
        codec,
        telephone_event: telephone_event_of(theirs).filter(|_| telephone_event_of(ours).is_some()),
        ptime: theirs.ptime.or(ours.ptime).unwrap_or(20),
        direction: dir,
        remote: remote_of(answer, theirs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINPHONE: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=Talk\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 7078 RTP/AVP 8 0 96 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\nm=video 9078 RTP/AVP 97\r\na=rtpmap:97 VP8/90000\r\n";

    #[test]
    fn parse_print_round_trip() {
        let sd = SessionDescription::parse(LINPHONE).unwrap();
        assert_eq!(sd.media.len(), 2);
        assert_eq!(sd.audio().unwrap().port, 7078);
        let again = SessionDescription::parse(&sd.to_string()).unwrap();
        assert_eq!(again, sd);
    }

    #[test]
    fn answer_keeps_offerer_order_and_dtmf_pt_and_rejects_video() {
        let offer = SessionDescription::parse(LINPHONE).unwrap();
        let (ans, n) = answer(
            &offer,
            &AudioCaps::default(),
            "10.0.0.2".parse().unwrap(),
            20000,
            Direction::SendRecv,
            1,
            1,
        )
        .unwrap();
        assert_eq!(n.codec, Codec::Pcma, "offerer preferred PCMA");
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote, Some("192.0.2.10:7078".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
        assert_eq!(ans.media.len(), 2);
        assert_eq!(ans.media[1].port, 0);
        let back = negotiated_from_answer(
            &offer,
            &SessionDescription::parse(&ans.to_string()).unwrap(),
        )
        .unwrap();
        assert_eq!(back.codec, Codec::Pcma);
        assert_eq!(back.remote, Some("10.0.0.2:20000".parse().unwrap()));
    }

    #[test]
    fn hold_directions() {
        let caps = AudioCaps::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let hold = offer(&caps, ip, 4000, Direction::SendOnly, 7, 2);
        let (ans, n) = answer(
            &SessionDescription::parse(&hold.to_string()).unwrap(),
            &caps,
            ip,
            5000,
            Direction::SendRecv,
            8,
            1,
        )
        .unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        assert_eq!(
            negotiated_from_answer(&hold, &ans).unwrap().direction,
            Direction::SendOnly
        );
        let inactive = offer(&caps, ip, 4000, Direction::Inactive, 7, 3);
        let (_, n) = answer(&inactive, &caps, ip, 5000, Direction::SendRecv, 8, 2).unwrap();
        assert_eq!(n.direction, Direction::Inactive);
        assert_eq!(
            Direction::answer(Direction::SendRecv, Direction::SendOnly),
            Direction::SendOnly
        );
    }

    #[test]
    fn no_common_codec_is_an_error() {
        let g729 = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 18\r\n";
        let offer = SessionDescription::parse(g729).unwrap();
        assert!(
            answer(
                &offer,
                &AudioCaps::default(),
                "10.0.0.2".parse().unwrap(),
                2,
                Direction::SendRecv,
                1,
                1
            )
            .is_err()
        );
        assert!(SessionDescription::parse("o=broken").is_err());
        assert!(SessionDescription::parse("v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn pcmu_by_static_pt_without_rtpmap() {
        let sd = SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 1000 RTP/AVP 0\r\n").unwrap();
        let (_, n) = answer(
            &sd,
            &AudioCaps::default(),
            "10.0.0.2".parse().unwrap(),
            2,
            Direction::SendRecv,
            1,
            1,
        )
        .unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.remote, None, "0.0.0.0 is RFC 2543 hold");
        assert_eq!(n.telephone_event, None);
    }
}
