//! Configuration of call control: the `[sip]`, `[media]`, `[dialplan]`, `[[trunks]]` and
//! `[[extensions]]` sections of `switch.toml` as types. The switch parses and checks them
//! (`hotline_switch::sip::config::validate`, every error naming the file, line and key).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

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
    /// How the desktop's Answer reaches this phone while it rings (`auto`, `talk` or `off`).
    #[serde(default)]
    pub remote_answer: RemoteAnswer,
}

/// Answering a ringing phone from the desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAnswer {
    /// Send `NOTIFY` with `Event: talk` (the BroadSoft remote-control package that Yealink,
    /// Polycom, Cisco, Grandstream and Snom phones implement) when the phone's ringing response
    /// lists `talk` in `Allow-Events`; otherwise the desktop shows Answer as unavailable.
    #[default]
    Auto,
    /// Always send the `talk` NOTIFY (phones that support it without advertising it).
    Talk,
    /// Never: the agent lifts the handset.
    Off,
}
