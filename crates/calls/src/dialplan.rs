//! The dial plan: a dialed number in, a target out. Pure and deterministic.
//!
//! Order of matching: a configured extension number; then routes with an exact `number`
//! (compared in E.164 when both sides look like phone numbers); then the longest matching
//! `prefix`. Trunk targets get the number after `strip`/`prepend`, normalised to E.164 with
//! the node's country code, so what reaches a trunk is always `+<digits>`: the switch never
//! sends a request to a URI a caller wrote.

use std::collections::HashSet;

use crate::config::{DialplanConfig, ExtensionConfig, RouteConfig};

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Ivr(String),
    Queue(String),
    Extension(String),
    /// Trunk name and the E.164 number to send.
    Trunk {
        trunk: String,
        number: String,
    },
}

/// A resolved route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    /// Anyone may call it (a public DID).
    pub public: bool,
}

/// Why a number has no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// Nothing matches: 404.
    NotFound,
    /// A trunk route matched but the number is not a valid phone number: 484.
    BadNumber,
}

/// Why a number may not be called back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackRefused {
    /// No route takes it (or it is not a phone number).
    NoRoute,
    /// Outside the allowed prefixes (`[dialplan.callbacks] allow_prefixes`).
    NotAllowed,
    /// In a premium-rate or other denied range (`deny_prefixes`).
    Denied,
}

impl CallbackRefused {
    /// The reason as a short token for logs and call records.
    pub fn as_str(&self) -> &'static str {
        match self {
            CallbackRefused::NoRoute => "no route",
            CallbackRefused::NotAllowed => "not an allowed callback number",
            CallbackRefused::Denied => "premium or denied range",
        }
    }
}

/// Premium-rate, shared-cost and look-alike international ranges that are never called back
/// unless `deny_prefixes` says otherwise, by country code.
fn default_denied(cc: &str) -> Vec<String> {
    let ranges: &[&str] = match cc {
        // NANP: 900/976 premium; area codes that are other countries inside +1 (the
        // Caribbean "one-ring" fraud targets), charged as international calls.
        "1" => &[
            "+1900", "+1976", "+1242", "+1246", "+1264", "+1268", "+1284", "+1345", "+1441",
            "+1473", "+1649", "+1658", "+1664", "+1721", "+1758", "+1767", "+1784", "+1809",
            "+1829", "+1849", "+1868", "+1869", "+1876",
        ],
        "44" => &["+449", "+4487", "+4470"],
        "49" => &["+49900", "+49137", "+49118"],
        "33" => &["+338"],
        "86" => &["+86168", "+86160"],
        "61" => &["+61190"],
        _ => &[],
    };
    ranges.iter().map(|r| r.to_string()).collect()
}

/// The compiled dial plan.
#[derive(Debug, Clone)]
pub struct Dialplan {
    routes: Vec<RouteConfig>,
    extensions: HashSet<String>,
    country_code: String,
    callback_allow: Vec<String>,
    callback_deny: Vec<String>,
}

/// Keeps only the characters that can be part of a dialed number.
pub fn clean(dialed: &str) -> String {
    dialed
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'))
        .collect()
}

fn e164(raw: &str, cc: &str) -> Option<String> {
    hotline_records::phone::normalize(raw, Some(cc)).ok()
}

impl Dialplan {
    pub fn new(cfg: &DialplanConfig, extensions: &[ExtensionConfig], country_code: &str) -> Self {
        Dialplan {
            routes: cfg.routes.clone(),
            extensions: extensions.iter().map(|e| e.number.clone()).collect(),
            country_code: country_code.to_string(),
            callback_allow: cfg
                .callbacks
                .allow_prefixes
                .clone()
                .unwrap_or_else(|| vec![format!("+{country_code}")]),
            callback_deny: cfg
                .callbacks
                .deny_prefixes
                .clone()
                .unwrap_or_else(|| default_denied(country_code)),
        }
    }

    /// Where a callback to `number` goes, if the switch may call it back: an extension, or a
    /// trunk number inside the allowed prefixes and outside the denied ones. `own_verified`:
    /// the number is on record for a customer who proved who they are on this call (PIN); it
    /// may then be outside the allowed prefixes, never in a denied range.
    pub fn callback_target(
        &self,
        number: &str,
        own_verified: bool,
    ) -> Result<Target, CallbackRefused> {
        // A caller's number, not dialled digits: read it as a phone number (national forms
        // with the node's country), then route it as if dialled in E.164.
        let cleaned = clean(number);
        if self.extensions.contains(&cleaned) {
            return Ok(Target::Extension(cleaned));
        }
        let e = e164(&cleaned, &self.country_code).ok_or(CallbackRefused::NoRoute)?;
        match self.resolve(&e).map(|r| r.target) {
            Ok(Target::Trunk { trunk, number }) => {
                let starts = |list: &[String]| list.iter().any(|p| number.starts_with(p.as_str()));
                if starts(&self.callback_deny) {
                    Err(CallbackRefused::Denied)
                } else if !own_verified && !starts(&self.callback_allow) {
                    Err(CallbackRefused::NotAllowed)
                } else {
                    Ok(Target::Trunk { trunk, number })
                }
            }
            _ => Err(CallbackRefused::NoRoute),
        }
    }

    /// Is this an extension number?
    pub fn is_extension(&self, n: &str) -> bool {
        self.extensions.contains(n)
    }

    /// Resolves a dialed number (the user part of the Request-URI).
    pub fn resolve(&self, dialed: &str) -> Result<Route, NoRoute> {
        let d = clean(dialed);
        if d.is_empty() {
            return Err(NoRoute::NotFound);
        }
        if self.extensions.contains(&d) {
            return Ok(Route {
                target: Target::Extension(d),
                public: false,
            });
        }
        let d164 = e164(&d, &self.country_code);
        // Exact numbers first.
        for r in &self.routes {
            let Some(n) = &r.number else { continue };
            let n = clean(n);
            let same = n == d
                || match (&d164, e164(&n, &self.country_code)) {
                    (Some(a), Some(b)) => d.len() > 4 && *a == b,
                    _ => false,
                };
            if same {
                return self.target(r, &d);
            }
        }
        // Then the longest prefix.
        let best = self
            .routes
            .iter()
            .filter_map(|r| r.prefix.as_ref().map(|p| (r, clean(p))))
            .filter(|(_, p)| d.starts_with(p.as_str()))
            .max_by_key(|(_, p)| p.len());
        match best {
            Some((r, _)) => self.target(r, &d),
            None => Err(NoRoute::NotFound),
        }
    }

    fn target(&self, r: &RouteConfig, dialed: &str) -> Result<Route, NoRoute> {
        let target = if let Some(f) = &r.ivr {
            Target::Ivr(f.clone())
        } else if let Some(q) = &r.queue {
            Target::Queue(q.clone())
        } else if let Some(x) = &r.extension {
            Target::Extension(x.clone())
        } else if let Some(t) = &r.trunk {
            let rest = dialed.get(r.strip..).unwrap_or("");
            let number = format!("{}{}", r.prepend, rest);
            let number = e164(&number, &self.country_code).ok_or(NoRoute::BadNumber)?;
            Target::Trunk {
                trunk: t.clone(),
                number,
            }
        } else {
            return Err(NoRoute::NotFound);
        };
        Ok(Route {
            target,
            public: r.public,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Dialplan {
        let routes = vec![
            RouteConfig {
                number: Some("+1 800 555 0100".into()),
                public: true,
                ivr: Some("main".into()),
                ..Default::default()
            },
            RouteConfig {
                number: Some("7000".into()),
                queue: Some("support".into()),
                ..Default::default()
            },
            RouteConfig {
                prefix: Some("9".into()),
                strip: 1,
                trunk: Some("pstn".into()),
                ..Default::default()
            },
            RouteConfig {
                prefix: Some("+".into()),
                trunk: Some("pstn".into()),
                ..Default::default()
            },
            RouteConfig {
                prefix: Some("+44".into()),
                trunk: Some("uk".into()),
                ..Default::default()
            },
        ];
        let exts = vec![ExtensionConfig {
            number: "1001".into(),
            password: "pw-1001".into(),
            name: String::new(),
            auto_answer: false,
            remote_answer: Default::default(),
        }];
        Dialplan::new(
            &DialplanConfig {
                routes,
                ..Default::default()
            },
            &exts,
            "1",
        )
    }

    #[test]
    fn callbacks_only_to_allowed_numbers() {
        let p = plan();
        // A national number and an extension may be called back.
        assert!(matches!(
            p.callback_target("+12025550188", false),
            Ok(Target::Trunk { number, .. }) if number == "+12025550188"
        ));
        assert_eq!(
            p.callback_target("1001", false),
            Ok(Target::Extension("1001".into()))
        );
        // Premium and Caribbean look-alikes never, even as a verified customer's own number.
        for n in ["+19005550100", "+18765550100", "1 900 555 0100"] {
            assert_eq!(
                p.callback_target(n, false),
                Err(CallbackRefused::Denied),
                "{n}"
            );
            assert_eq!(
                p.callback_target(n, true),
                Err(CallbackRefused::Denied),
                "{n}"
            );
        }
        // Abroad only as a verified customer's own number.
        assert_eq!(
            p.callback_target("+442071234567", false),
            Err(CallbackRefused::NotAllowed)
        );
        assert!(p.callback_target("+442071234567", true).is_ok());
        // Not a number, or nothing routes it.
        assert_eq!(
            p.callback_target("anonymous", false),
            Err(CallbackRefused::NoRoute)
        );
        assert_eq!(
            p.callback_target("5555", false),
            Err(CallbackRefused::NoRoute)
        );
    }

    #[test]
    fn extension_first() {
        let r = plan().resolve("1001").unwrap();
        assert_eq!(r.target, Target::Extension("1001".into()));
        assert!(!r.public);
    }

    #[test]
    fn did_matches_in_any_notation() {
        for dialed in [
            "+18005550100",
            "18005550100",
            "8005550100",
            "+1-800-555-0100",
        ] {
            let r = plan().resolve(dialed).unwrap();
            assert_eq!(r.target, Target::Ivr("main".into()), "{dialed}");
            assert!(r.public);
        }
    }

    #[test]
    fn outside_line_is_stripped_and_normalised() {
        let r = plan().resolve("9 202 555 0188").unwrap();
        assert_eq!(
            r.target,
            Target::Trunk {
                trunk: "pstn".into(),
                number: "+12025550188".into()
            }
        );
        assert!(!r.public);
    }

    #[test]
    fn international_call_from_north_america() {
        // 9 for an outside line, 011 to dial abroad (the NANP's international prefix).
        let r = plan().resolve("9 011 44 1632 960999").unwrap();
        assert_eq!(
            r.target,
            Target::Trunk {
                trunk: "pstn".into(),
                number: "+441632960999".into()
            }
        );
        // A national call with the trunk prefix 1 stays national.
        let r = plan().resolve("9 1 202 555 0188").unwrap();
        assert!(matches!(r.target, Target::Trunk { number, .. } if number == "+12025550188"));
    }

    #[test]
    fn longest_prefix_wins() {
        let r = plan().resolve("+442071234567").unwrap();
        assert!(matches!(r.target, Target::Trunk { trunk, .. } if trunk == "uk"));
        let r = plan().resolve("+33123456789").unwrap();
        assert!(matches!(r.target, Target::Trunk { trunk, .. } if trunk == "pstn"));
    }

    #[test]
    fn unknown_and_bad_numbers() {
        assert_eq!(plan().resolve("5555"), Err(NoRoute::NotFound));
        assert_eq!(plan().resolve("alice"), Err(NoRoute::NotFound));
        assert_eq!(plan().resolve("9"), Err(NoRoute::BadNumber));
        assert_eq!(
            plan().resolve("7000").unwrap().target,
            Target::Queue("support".into())
        );
    }
}
