//! Shared helpers: a campaign in New York, times in New York, draining outputs.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use hotline_dialler::{
    AgentId, CampaignId, CampaignSettings, ContactSpec, DialId, Dialler, Number, Output, PacingMode,
};

pub const NY: Tz = Tz::America__New_York;

/// Local New York time as UTC.
pub fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    NY.with_ymd_and_hms(y, m, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn num(s: &str) -> Number {
    Number::parse(s).unwrap()
}

pub fn settings(mode: PacingMode) -> CampaignSettings {
    let mut s = CampaignSettings::new("Acme Energy", num("+12125550000"), NY);
    s.mode = mode;
    s
}

pub fn camp() -> CampaignId {
    CampaignId::new("c")
}

pub fn agent(name: &str) -> AgentId {
    AgentId::new(name)
}

/// A dialler with campaign `c` started at `now`, contacts `(id, number)` loaded, agents joined.
pub fn dialler(
    now: DateTime<Utc>,
    mode: PacingMode,
    contacts: &[(&str, &str)],
    agents: &[&str],
) -> Dialler {
    let mut d = Dialler::new(now);
    d.add_campaign(now, camp(), settings(mode)).unwrap();
    let specs = contacts
        .iter()
        .map(|(id, n)| ContactSpec::new(*id, num(n)))
        .collect();
    d.load_contacts(now, &camp(), specs).unwrap();
    for a in agents {
        d.join(now, &agent(a), &camp()).unwrap();
    }
    d.start(now, &camp()).unwrap();
    d
}

pub fn drain(d: &mut Dialler) -> Vec<Output> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

/// The dials among outputs: (dial, contact id, reserved agent).
pub fn dials(outs: &[Output]) -> Vec<(DialId, String, Option<String>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Dial {
                dial,
                contact,
                agent,
                ..
            } => Some((
                *dial,
                contact.to_string(),
                agent.as_ref().map(|a| a.to_string()),
            )),
            _ => None,
        })
        .collect()
}
