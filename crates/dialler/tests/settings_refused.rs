//! Settings the dialler must refuse: ring time under 15 s (when adding or updating a campaign),
//! an abandon cap above 3 %, empty line limits, windows that end before they start; and inputs
//! naming campaigns, dials or agents it does not know.

mod common;

use common::*;
use hotline_dialler::{
    CampaignId, DialId, DiallerError, Number, PacingMode, PredictiveSettings, Progress,
};
use std::time::Duration;

#[test]
fn ring_time_under_15_s_is_refused() {
    let now = ny(2026, 3, 2, 10, 0);
    let mut d = hotline_dialler::Dialler::new(now);
    let mut s = settings(PacingMode::Progressive);
    s.ring_time = Duration::from_secs(14);
    assert_eq!(
        d.add_campaign(now, camp(), s.clone()),
        Err(DiallerError::RingTimeTooShort(Duration::from_secs(14)))
    );
    assert!(matches!(
        d.campaign_state(&camp()),
        Err(DiallerError::UnknownCampaign(_))
    ));
    s.ring_time = Duration::from_secs(15);
    d.add_campaign(now, camp(), s.clone()).unwrap();
    s.ring_time = Duration::from_millis(14_999);
    assert!(matches!(
        d.update_campaign(now, &camp(), s),
        Err(DiallerError::RingTimeTooShort(_))
    ));
}

#[test]
fn other_bad_settings_are_refused() {
    let now = ny(2026, 3, 2, 10, 0);
    let mut d = hotline_dialler::Dialler::new(now);
    let over_cap = settings(PacingMode::Predictive(PredictiveSettings {
        abandon_cap: 0.05,
        ..Default::default()
    }));
    assert!(matches!(
        d.add_campaign(now, camp(), over_cap),
        Err(DiallerError::InvalidSetting {
            setting: "abandon_cap",
            ..
        })
    ));
    let mut no_lines = settings(PacingMode::Progressive);
    no_lines.max_lines = 0;
    assert!(matches!(
        d.add_campaign(now, camp(), no_lines),
        Err(DiallerError::InvalidSetting {
            setting: "max_lines",
            ..
        })
    ));
    let ratio = settings(PacingMode::Ratio {
        lines_per_agent: 0.5,
    });
    assert!(matches!(
        d.add_campaign(now, camp(), ratio),
        Err(DiallerError::InvalidSetting {
            setting: "lines_per_agent",
            ..
        })
    ));
    let mut backwards = settings(PacingMode::Progressive);
    let t = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    backwards.hours = backwards
        .hours
        .with(chrono::Weekday::Mon, Some((t(18), t(9))));
    assert!(matches!(
        d.add_campaign(now, camp(), backwards),
        Err(DiallerError::InvalidSetting {
            setting: "hours",
            ..
        })
    ));
    assert!(matches!(
        Number::parse("2125550100"),
        Err(DiallerError::InvalidNumber(_))
    ));
}

#[test]
fn unknown_ids_are_refused_and_change_nothing() {
    let now = ny(2026, 3, 2, 10, 0);
    let mut d = dialler(now, PacingMode::Progressive, &[], &["alice"]);
    let other = CampaignId::new("nope");
    assert_eq!(
        d.start(now, &other),
        Err(DiallerError::UnknownCampaign(other.clone()))
    );
    assert_eq!(
        d.progress(now, DialId(99), Progress::Person),
        Err(DiallerError::UnknownDial(DialId(99)))
    );
    assert!(matches!(
        d.wrap_up_done(
            now,
            &agent("bob"),
            hotline_dialler::Disposition::WrongNumber
        ),
        Err(DiallerError::UnknownAgent(_))
    ));
    assert!(matches!(
        d.wrap_up_done(
            now,
            &agent("alice"),
            hotline_dialler::Disposition::WrongNumber
        ),
        Err(DiallerError::InvalidState { .. })
    ));
    assert!(drain(&mut d).is_empty());
}
