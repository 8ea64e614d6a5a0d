//! The `[sip]`, `[media]`, `[dialplan]`, `[[trunks]]` and `[[extensions]]` sections of
//! `switch.toml` (the types live in `hotline_calls::config`), and their checks (every error
//! names the file, line and key).

use std::collections::HashSet;
use std::path::Path;

pub use hotline_calls::config::{
    CallbackPolicyConfig, DialplanConfig, ExtensionConfig, MediaConfig, RouteConfig, SipConfig,
    TrunkConfig,
};

use crate::config::ConfigError;

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
