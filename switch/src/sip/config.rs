//! The `[sip]`, `[media]`, `[dialplan]`, `[[trunks]]` and `[[extensions]]` sections of
//! `switch.toml`, and their checks (every error names the file, line and key).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::Deserialize;

use crate::config::ConfigError;

/// `[sip]`: transports, registrar and authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP and TCP listen address (both on the same port). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// `host:port` we put in Via and Contact; empty = the bound listen address.
    pub advertise: String,
    /// Also listen on TCP.
    pub tcp: bool,
    /// Digest realm for extensions.
    pub realm: String,
    /// Digest algorithms offered to phones, most preferred first: `SHA-256`, `MD5`. Default
    /// SHA-256 only; add `MD5` (after SHA-256) for phones that cannot do SHA-256.
    pub auth_algorithms: Vec<String>,
    /// Accept RFC 2069 digest answers without `qop` (they carry no nonce count, so a captured
    /// one can be replayed from the same address to the same URI while the nonce lives).
    pub auth_allow_no_qop: bool,
    /// How the digest `uri` must match the Request-URI: `"request-uri"` (scheme, user, host,
    /// port) or `"host"` (the user may be left out, for clients such as sipp that sign
    /// `sip:host:port`).
    pub auth_uri_check: String,
    /// How long a nonce stays fresh (then `stale=true`).
    pub nonce_lifetime_secs: u64,
    /// REGISTER expiry bounds and default.
    pub min_expires_secs: u32,
    pub max_expires_secs: u32,
    pub default_expires_secs: u32,
    /// OPTIONS keep-alive towards registered contacts; 0 disables.
    pub keepalive_secs: u64,
    /// Failed authentications per source IP within `auth_window_secs` before the source is
    /// banned (never a trunk's address).
    pub auth_max_failures: u32,
    /// Failed authentications at one extension (from any addresses) within `auth_window_secs`
    /// before the extension is closed to sources that have not proved themselves as it.
    pub auth_extension_max_failures: u32,
    pub auth_window_secs: u64,
    /// How long a ban lasts.
    pub auth_lockout_secs: u64,
    /// How long a successful authentication as an extension exempts that source IP from bans
    /// (for that extension).
    pub auth_proven_secs: u64,
    /// How long an extension or agent phone rings before the call gives up on it.
    pub ring_timeout_secs: u64,
    /// RFC 3261 T1 in milliseconds (retransmission base).
    pub t1_ms: u64,
    /// Largest number of concurrent calls; more get 503.
    pub max_calls: usize,
    /// Concurrent calls from one source IP that did not authenticate (calls to public
    /// numbers); more get 503 with Retry-After. Trunks have their own `max_calls`,
    /// authenticated extensions `max_calls_per_extension`. 0 = no limit.
    pub max_calls_per_source: usize,
    /// Concurrent calls placed by one authenticated extension; more get 503. 0 = no limit.
    pub max_calls_per_extension: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            advertise: String::new(),
            tcp: true,
            realm: "hotline".into(),
            auth_algorithms: vec!["SHA-256".into()],
            auth_allow_no_qop: false,
            auth_uri_check: "request-uri".into(),
            nonce_lifetime_secs: 300,
            min_expires_secs: 60,
            max_expires_secs: 3600,
            default_expires_secs: 600,
            keepalive_secs: 30,
            auth_max_failures: 5,
            auth_extension_max_failures: 10,
            auth_window_secs: 60,
            auth_lockout_secs: 300,
            auth_proven_secs: 3600,
            ring_timeout_secs: 30,
            t1_ms: 500,
            max_calls: 20_000,
            max_calls_per_source: 20,
            max_calls_per_extension: 10,
        }
    }
}

/// `[media]`: whether and how the switch anchors RTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Anchor media in the switch (needed for IVR, queues, recording, hold music). `false`
    /// passes SDP between the legs of extension and trunk calls unchanged (direct media);
    /// IVR and queue routes then are refused with 488.
    pub anchor: bool,
    /// IP the RTP sockets bind to and that goes into our SDP.
    pub ip: IpAddr,
    /// RTP port range (even ports; RTCP on the next odd one).
    pub port_min: u16,
    pub port_max: u16,
    /// Media threads; 0 = one per core.
    pub workers: usize,
    /// Seconds without RTP before a leg is hung up; 0 = never.
    pub rtp_timeout_secs: u64,
    /// Record every call from the moment an agent (or callee) answers: one WAV per call with
    /// the caller, the agent and a supervisor (or the third party) on separate channels.
    pub record_calls: bool,
    /// Where recordings go (`<call id>.wav`, then `<call id>-2.wav`... when the parties
    /// change); a relative path is taken from the working directory, like the database.
    pub recordings_dir: std::path::PathBuf,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            anchor: true,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20000,
            port_max: 30000,
            workers: 0,
            rtp_timeout_secs: 60,
            record_calls: false,
            recordings_dir: std::path::PathBuf::from("data/recordings"),
        }
    }
}

/// `[dialplan]`: which dialed numbers go where.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialplanConfig {
    /// Ordered rules; an exact `number` beats a `prefix`, a longer prefix beats a shorter one.
    pub routes: Vec<RouteConfig>,
    /// Which numbers the switch may call back when a caller asks for a callback.
    pub callbacks: CallbackPolicyConfig,
}

/// `[dialplan.callbacks]`: the numbers a callback may dial. A caller's number can be forged,
/// so a callback is a call the switch places on the center's bill to a number a stranger
/// chose: only numbers allowed here are offered a callback and dialled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackPolicyConfig {
    /// E.164 prefixes that may be called back (`"+1"`, `"+44"`). Unset: the node's own
    /// country (`+<node.country_code>`). Extensions may always be called back.
    pub allow_prefixes: Option<Vec<String>>,
    /// E.164 prefixes never called back, even when allowed above or on record as a verified
    /// customer's own number (premium-rate and shared-cost ranges). Unset: the built-in list
    /// for the node's country (docs/security.md).
    pub deny_prefixes: Option<Vec<String>>,
}

/// One dial-plan rule. Exactly one of `ivr`, `queue`, `extension`, `trunk` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// An exact number; compared after E.164 normalisation when it looks like a phone number.
    pub number: Option<String>,
    /// A prefix of the dialed digits (as dialed, `+` included).
    pub prefix: Option<String>,
    /// Digits to remove from the front before the number is used (trunk routes).
    pub strip: usize,
    /// Digits to put in front after stripping.
    pub prepend: String,
    /// Reachable by anyone (a public DID). Otherwise only authenticated extensions may use it.
    pub public: bool,
    /// Run this IVR flow (`config/ivr/<name>.toml`).
    pub ivr: Option<String>,
    /// Put the caller straight into this ACD queue.
    pub queue: Option<String>,
    /// Ring this extension.
    pub extension: Option<String>,
    /// Send out through this trunk (the number is normalised to E.164 first).
    pub trunk: Option<String>,
}

/// `[[trunks]]`: a carrier or a PBX we exchange calls with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    /// Where its SIP server is (`ip:port`). Requests from this IP are classified as the trunk.
    pub address: SocketAddr,
    /// `udp` or `tcp`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Domain for Request-URI, From and To hosts; default: the address.
    #[serde(default)]
    pub domain: String,
    /// Credentials for REGISTER and for 401/407 challenges on our INVITEs.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// REGISTER with the trunk (username and password required).
    #[serde(default)]
    pub register: bool,
    #[serde(default = "default_register_expires")]
    pub register_expires_secs: u32,
    /// Calling number presented on calls out through this trunk (E.164).
    #[serde(default)]
    pub caller_id: String,
    /// Concurrent calls from this trunk; more get 503 with Retry-After. 0 = only
    /// `sip.max_calls` (a trunk is exempt from `sip.max_calls_per_source`).
    #[serde(default)]
    pub max_calls: usize,
    /// Networks (`192.0.2.0/24`, or single addresses) the carrier may send media from besides
    /// the trunk's own address: its media servers. RTP from them is accepted, and sent to
    /// them from the start when the SDP names them; RTP toward any other address waits for
    /// the far end's first packet (strict media sources, docs/media.md).
    #[serde(default)]
    pub media_networks: Vec<String>,
}

impl TrunkConfig {
    /// The trunk's media networks, parsed (checked when the configuration was loaded).
    pub fn media_networks(&self) -> Vec<hotline_media::IpNet> {
        self.media_networks
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    }
}

fn default_transport() -> String {
    "udp".into()
}

fn default_register_expires() -> u32 {
    600
}

/// `[[extensions]]`: a phone that registers with the switch (an agent's audio, a desk phone).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    /// The extension number, also the digest username.
    pub number: String,
    /// Digest password.
    pub password: String,
    /// Display name used as caller name on internal calls.
    #[serde(default)]
    pub name: String,
    /// Ask this phone to answer calls offered by the queues by itself: the INVITE carries
    /// `Call-Info: <sip:host>;answer-after=0` and `Alert-Info: <http://127.0.0.1>;info=alert-autoanswer;delay=0`,
    /// which Yealink, Snom, Polycom, Grandstream, Cisco SPA, Linphone and most softphones honour.
    /// Internal and transferred calls ring normally.
    #[serde(default)]
    pub auto_answer: bool,
}

/// Checks the SIP sections of a parsed configuration; `text` is the file's content (for line
/// numbers).
pub fn validate(
    file: &Path,
    text: &str,
    sip: &SipConfig,
    media: &MediaConfig,
    dialplan: &DialplanConfig,
    trunks: &[TrunkConfig],
    extensions: &[ExtensionConfig],
) -> Result<(), ConfigError> {
    let err = |line: Option<usize>, key: String, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        key: Some(key),
        message,
    };
    let simple = |key: &str, message: &str| {
        err(
            crate::config::find_key_line(text, key),
            key.to_string(),
            message.to_string(),
        )
    };
    for a in &sip.auth_algorithms {
        if hotline_sip::auth::Algorithm::parse(Some(a)).is_none() {
            return Err(simple(
                "sip.auth_algorithms",
                &format!("unknown digest algorithm {a:?} (use \"SHA-256\" or \"MD5\")"),
            ));
        }
    }
    if !matches!(sip.auth_uri_check.as_str(), "request-uri" | "host") {
        return Err(simple(
            "sip.auth_uri_check",
            "must be \"request-uri\" or \"host\"",
        ));
    }
    if sip.auth_algorithms.is_empty() {
        return Err(simple("sip.auth_algorithms", "name at least one algorithm"));
    }
    if !sip.advertise.is_empty() && !sip.advertise.contains(':') {
        return Err(simple("sip.advertise", "must be host:port"));
    }
    if sip.min_expires_secs == 0
        || sip.min_expires_secs > sip.max_expires_secs
        || !(sip.min_expires_secs..=sip.max_expires_secs).contains(&sip.default_expires_secs)
    {
        return Err(simple(
            "sip.default_expires_secs",
            "need 0 < min_expires_secs <= default_expires_secs <= max_expires_secs",
        ));
    }
    if sip.t1_ms == 0 || sip.t1_ms > 10_000 {
        return Err(simple("sip.t1_ms", "must be 1 to 10000"));
    }
    if sip.ring_timeout_secs == 0 {
        return Err(simple("sip.ring_timeout_secs", "must be at least 1"));
    }
    if sip.auth_max_failures == 0 {
        return Err(simple("sip.auth_max_failures", "must be at least 1"));
    }
    if sip.auth_extension_max_failures == 0 {
        return Err(simple(
            "sip.auth_extension_max_failures",
            "must be at least 1",
        ));
    }
    if media.port_min >= media.port_max || media.port_max - media.port_min < 4 {
        return Err(simple(
            "media.port_max",
            "the port range needs at least 4 ports (port_min < port_max)",
        ));
    }

    // [[extensions]]
    let ext_lines = table_lines(text, "extensions");
    let mut numbers = HashSet::new();
    for (i, e) in extensions.iter().enumerate() {
        let line = ext_lines.get(i).copied();
        if e.number.is_empty() || !e.number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                line,
                format!("extensions[{i}].number"),
                "must be digits".into(),
            ));
        }
        if e.password.len() < 4 {
            return Err(err(
                line,
                format!("extensions[{i}].password"),
                "must be at least 4 characters".into(),
            ));
        }
        if !numbers.insert(e.number.clone()) {
            return Err(err(
                line,
                format!("extensions[{i}].number"),
                format!("extension {} is defined twice", e.number),
            ));
        }
    }

    // [[trunks]]
    let trunk_lines = table_lines(text, "trunks");
    let mut names = HashSet::new();
    for (i, t) in trunks.iter().enumerate() {
        let line = trunk_lines.get(i).copied();
        if t.name.is_empty() || !names.insert(t.name.clone()) {
            return Err(err(
                line,
                format!("trunks[{i}].name"),
                "must be set and unique".into(),
            ));
        }
        if !matches!(t.transport.as_str(), "udp" | "tcp") {
            return Err(err(
                line,
                format!("trunks[{i}].transport"),
                "must be \"udp\" or \"tcp\"".into(),
            ));
        }
        for (j, n) in t.media_networks.iter().enumerate() {
            if let Err(e) = n.parse::<hotline_media::IpNet>() {
                return Err(err(
                    line,
                    format!("trunks[{i}].media_networks[{j}]"),
                    format!("{n:?}: {e} (use an address or address/prefix, e.g. \"192.0.2.0/24\")"),
                ));
            }
        }
        if t.register && (t.username.is_empty() || t.password.is_empty()) {
            return Err(err(
                line,
                format!("trunks[{i}].register"),
                "registering needs username and password".into(),
            ));
        }
    }

    // [dialplan.callbacks]
    for (key, list) in [
        ("allow_prefixes", &dialplan.callbacks.allow_prefixes),
        ("deny_prefixes", &dialplan.callbacks.deny_prefixes),
    ] {
        for p in list.iter().flatten() {
            let digits = p.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(simple(
                    &format!("dialplan.callbacks.{key}"),
                    &format!("{p:?} is not an E.164 prefix (`+` and 1 to 15 digits)"),
                ));
            }
        }
    }

    // [[dialplan.routes]]
    let route_lines = table_lines(text, "dialplan.routes");
    for (i, r) in dialplan.routes.iter().enumerate() {
        let line = route_lines.get(i).copied();
        let key = |k: &str| format!("dialplan.routes[{i}].{k}");
        match (&r.number, &r.prefix) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(err(
                    line,
                    key("number"),
                    "set exactly one of `number` and `prefix`".into(),
                ));
            }
        }
        let targets = [&r.ivr, &r.queue, &r.extension, &r.trunk]
            .iter()
            .filter(|t| t.is_some())
            .count();
        if targets != 1 {
            return Err(err(
                line,
                key("ivr"),
                "set exactly one of `ivr`, `queue`, `extension`, `trunk`".into(),
            ));
        }
        if let Some(t) = &r.trunk
            && !names.contains(t)
        {
            return Err(err(line, key("trunk"), format!("no trunk named {t:?}")));
        }
        if let Some(x) = &r.extension
            && !numbers.contains(x)
        {
            return Err(err(
                line,
                key("extension"),
                format!("no extension {x:?} in [[extensions]]"),
            ));
        }
        if (r.ivr.is_some() || r.queue.is_some()) && !media.anchor {
            return Err(err(
                line,
                key("ivr"),
                "IVR and queue routes need media.anchor = true".into(),
            ));
        }
    }
    Ok(())
}

/// Checks that each `[[dialplan.routes]]` entry's `queue` and `ivr` name a queue and a flow
/// that exist (`queues`: queue ids; `flows`: flow names).
pub fn validate_targets(
    file: &Path,
    text: &str,
    dialplan: &DialplanConfig,
    queues: &[&str],
    flows: &[&str],
) -> Result<(), ConfigError> {
    let route_lines = table_lines(text, "dialplan.routes");
    for (i, r) in dialplan.routes.iter().enumerate() {
        let header = route_lines.get(i).copied();
        let err = |k: &str, message: String| ConfigError {
            file: file.to_path_buf(),
            line: header.map(|h| key_line_in_table(text, h, k).unwrap_or(h)),
            key: Some(format!("dialplan.routes[{i}].{k}")),
            message,
        };
        if let Some(q) = &r.queue
            && !queues.contains(&q.as_str())
        {
            return Err(err(
                "queue",
                format!("no queue {q:?} (queues: {})", queues.join(", ")),
            ));
        }
        if let Some(f) = &r.ivr
            && !flows.contains(&f.as_str())
        {
            let known = if flows.is_empty() {
                "no flows are loaded: put flow files in the `ivr` folder next to this file".into()
            } else {
                format!("flows: {}", flows.join(", "))
            };
            return Err(err("ivr", format!("no IVR flow {f:?} ({known})")));
        }
    }
    Ok(())
}

/// 1-based line of `key = ...` inside the table whose header is on line `header`.
fn key_line_in_table(text: &str, header: usize, key: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(header)
        .take_while(|(_, l)| !l.trim_start().starts_with('['))
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(i, _)| i + 1)
}

/// 1-based lines of each `[[name]]` header, in order.
fn table_lines(text: &str, name: &str) -> Vec<usize> {
    let header = format!("[[{name}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.split('#').next().unwrap_or("").trim() == header)
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn sip_error(sip: &str) -> (Option<usize>, Option<String>) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("demo.toml"), "").expect("demo");
        let file = dir.path().join("switch.toml");
        let e = Config::parse(&file, &format!("[sip]\n{sip}\n")).unwrap_err();
        (e.line, e.key)
    }

    #[test]
    fn auth_keys_are_checked_and_named() {
        assert_eq!(
            sip_error("auth_uri_check = \"loose\""),
            (Some(2), Some("sip.auth_uri_check".into()))
        );
        assert_eq!(
            sip_error("auth_extension_max_failures = 0"),
            (Some(2), Some("sip.auth_extension_max_failures".into()))
        );
        assert_eq!(
            sip_error("auth_algorithms = [\"SHA-512\"]"),
            (Some(2), Some("sip.auth_algorithms".into()))
        );
        let d = super::SipConfig::default();
        assert_eq!(
            d.auth_algorithms,
            vec!["SHA-256".to_string()],
            "MD5 off by default"
        );
        assert!(!d.auth_allow_no_qop);
        assert_eq!(d.auth_uri_check, "request-uri");
    }
}
