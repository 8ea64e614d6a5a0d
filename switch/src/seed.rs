//! Loads `config/demo.toml` into an empty database, so a fresh install has customers, agents,
//! queues and bookable items to show.

use std::path::Path;

use hotline_store::{
    Disposition, Identity, IdentityKind, Millis, NewAgent, NewCustomer, NewItem, NewTicket, Role,
    SkillLevel, Store,
};
use serde::Deserialize;

use crate::config::{ConfigError, parse_toml};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoData {
    #[serde(default)]
    pub dispositions: Vec<DemoDisposition>,
    #[serde(default)]
    pub skills: Vec<DemoSkill>,
    #[serde(default)]
    pub queues: Vec<DemoQueue>,
    #[serde(default)]
    pub agents: Vec<DemoAgent>,
    #[serde(default)]
    pub items: Vec<DemoItem>,
    #[serde(default)]
    pub customers: Vec<DemoCustomer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoDisposition {
    pub code: String,
    pub label: String,
    #[serde(default)]
    pub resolved: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSkill {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoQueue {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAgent {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub role: Role,
    pub password: String,
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoItem {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub starts_at: Option<String>,
    pub price_minor: i64,
    pub currency: String,
    pub capacity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCustomer {
    pub name: String,
    #[serde(default)]
    pub tier: String,
    pub birthday: Option<String>,
    /// A demo caller PIN (4 to 12 digits) for the IVR's verification; stored as a hash.
    pub pin: Option<String>,
    /// What the customer owes, payable by phone in the billing menu.
    pub balance: Option<DemoBalance>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub identities: Vec<DemoIdentity>,
    #[serde(default)]
    pub tickets: Vec<DemoTicket>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoBalance {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoIdentity {
    pub kind: IdentityKind,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoTicket {
    pub subject: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub priority: String,
}

/// What was loaded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub customers: usize,
    pub agents: usize,
    pub items: usize,
}

/// Reads and checks a demo data file.
pub fn load(path: &Path) -> Result<DemoData, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message: format!("cannot read: {e}"),
    })?;
    parse_toml(path, &text)
}

/// Loads the knowledge-base articles of `path` into an empty knowledge base (an existing one is
/// left alone; a missing file loads nothing). A bad file names its line and key.
pub async fn seed_knowledge_base(store: &Store, path: &Path, now: Millis) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(file = %path.display(), "no knowledge-base file: none loaded");
            return Ok(());
        }
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    let kb: hotline_store::KbSeed = parse_toml(path, &text).map_err(|e| e.to_string())?;
    match store
        .seed_knowledge_base(&kb, now)
        .await
        .map_err(|e| format!("seeding {}: {e}", path.display()))?
    {
        hotline_store::KbSeeded::Loaded(n) => {
            tracing::info!(articles = n, "knowledge base loaded")
        }
        hotline_store::KbSeeded::AlreadyHasArticles(_) => {}
    }
    Ok(())
}

/// Writes demo data into the store. The caller checks that the store is empty first.
pub async fn seed(store: &Store, data: &DemoData, now: Millis) -> Result<SeedReport, SeedError> {
    check(data)?;
    for d in &data.dispositions {
        store
            .upsert_disposition(&Disposition {
                code: d.code.clone(),
                label: d.label.clone(),
                resolved: d.resolved,
            })
            .await?;
    }
    for s in &data.skills {
        store.upsert_skill(&s.name, &s.description).await?;
    }
    for q in &data.queues {
        store.upsert_queue(&q.id, &q.name, now).await?;
    }
    for a in &data.agents {
        let hash = hotline_store::password::hash(&a.password)?;
        store
            .upsert_agent(
                &NewAgent {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    extension: a.extension.clone(),
                    role: a.role,
                    password_hash: hash,
                },
                now,
            )
            .await?;
        store.set_agent_skills(&a.id, &a.skills).await?;
    }
    for i in &data.items {
        let starts_at = match &i.starts_at {
            Some(s) => Some(parse_utc(s).ok_or_else(|| {
                SeedError::Data(format!(
                    "item {}: starts_at {s:?} is not YYYY-MM-DDTHH:MM:SSZ",
                    i.sku
                ))
            })?),
            None => None,
        };
        store
            .upsert_item(&NewItem {
                sku: i.sku.clone(),
                name: i.name.clone(),
                description: i.description.clone(),
                starts_at,
                price_minor: i.price_minor,
                currency: i.currency.clone(),
                capacity: i.capacity,
            })
            .await?;
    }
    for c in &data.customers {
        let id = store
            .create_customer(
                &NewCustomer {
                    display_name: c.name.clone(),
                    tier: c.tier.clone(),
                    value_score: 0,
                    birthday: c.birthday.clone(),
                    language: None,
                    notes: c.notes.clone(),
                },
                now,
            )
            .await?;
        for ident in &c.identities {
            let identity =
                Identity::new(ident.kind, &ident.value).map_err(hotline_store::Error::from)?;
            store
                .link_identity(id, &identity, "import", true, now)
                .await?;
        }
        if let Some(pin) = &c.pin {
            store.set_customer_pin(id, pin, now).await?;
        }
        if let Some(b) = &c.balance {
            store
                .set_balance(id, b.amount_minor, &b.currency, "import", now)
                .await?;
        }
        for t in &c.tickets {
            store
                .create_ticket(&NewTicket {
                    customer_id: Some(id),
                    subject: t.subject.clone(),
                    body: t.body.clone(),
                    priority: t.priority.clone(),
                    created_by: Some("import".into()),
                    at: now,
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(SeedReport {
        customers: data.customers.len(),
        agents: data.agents.len(),
        items: data.items.len(),
    })
}

/// Checks everything that could make seeding stop half-way: identities that do not normalise or
/// appear twice, dates that do not parse, agents without passwords.
pub fn check(data: &DemoData) -> Result<(), SeedError> {
    let mut seen = std::collections::HashSet::new();
    for c in &data.customers {
        if let Some(pin) = &c.pin
            && (!hotline_store::pins::PIN_LENGTH.contains(&pin.len())
                || !pin.bytes().all(|b| b.is_ascii_digit()))
        {
            // The PIN is not repeated in the message: it may be a real one.
            return Err(SeedError::Data(format!(
                "customer {:?}: pin must be 4 to 12 digits",
                c.name
            )));
        }
        for ident in &c.identities {
            let identity = Identity::new(ident.kind, &ident.value)
                .map_err(|e| SeedError::Data(format!("customer {:?}: {e}", c.name)))?;
            if !seen.insert(identity.clone()) {
                return Err(SeedError::Data(format!(
                    "customer {:?}: {} {:?} is listed twice",
                    c.name,
                    ident.kind.as_str(),
                    ident.value
                )));
            }
        }
    }
    for i in &data.items {
        if let Some(s) = &i.starts_at
            && parse_utc(s).is_none()
        {
            return Err(SeedError::Data(format!(
                "item {}: starts_at {s:?} is not YYYY-MM-DDTHH:MM:SSZ",
                i.sku
            )));
        }
    }
    let mut exts = std::collections::HashSet::new();
    for a in &data.agents {
        if a.password.len() < 8 {
            return Err(SeedError::Data(format!(
                "agent {}: password shorter than 8 characters",
                a.id
            )));
        }
        if !exts.insert(a.extension.as_str()) {
            return Err(SeedError::Data(format!(
                "agent {}: extension {} is used twice",
                a.id, a.extension
            )));
        }
    }
    Ok(())
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` to unix milliseconds.
pub fn parse_utc(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000)
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Store(#[from] hotline_store::Error),
    #[error("{0}")]
    Data(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_parsing() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2027-03-10T08:30:00Z"), Some(1_804_667_400_000));
        assert_eq!(parse_utc("2000-02-29T12:00:00Z"), Some(951_825_600_000));
        assert_eq!(parse_utc("2027-13-10T08:30:00Z"), None);
        assert_eq!(parse_utc("2027-03-10 08:30:00"), None);
    }

    #[test]
    fn shipped_demo_data_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
        let d = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.customers.len(), 50);
        assert!(d.agents.iter().any(|a| a.role == Role::Supervisor));
        assert_eq!(d.customers.iter().filter(|c| c.pin.is_some()).count(), 5);
        check(&d).unwrap_or_else(|e| panic!("{e}"));
        let mut bad = load(&path).unwrap_or_else(|e| panic!("{e}"));
        bad.customers[0].pin = Some("12a4".into());
        let e = check(&bad).unwrap_err().to_string();
        assert!(
            e.contains("pin must be 4 to 12 digits") && !e.contains("12a4"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn shipped_knowledge_base_loads_once_and_a_bad_file_names_its_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}/kb.db", dir.path().display());
        let store = Store::open(&url, Default::default()).await.expect("store");
        let kb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/kb.toml");
        seed_knowledge_base(&store, &kb, 1).await.expect("seed");
        let n = store.list_articles(None).await.expect("articles").len();
        assert!(n >= 10, "{n} articles");
        // Loaded once: a second start leaves them alone.
        seed_knowledge_base(&store, &kb, 2).await.expect("again");
        assert_eq!(store.list_articles(None).await.expect("articles").len(), n);
        // No file: nothing loaded, no error. A bad file: its line and key.
        seed_knowledge_base(&store, &dir.path().join("none.toml"), 3)
            .await
            .expect("missing file is fine");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[[articles]]\ntitle = \"x\"\nbody = 5\n").expect("write");
        let e = seed_knowledge_base(&store, &bad, 4).await.unwrap_err();
        assert!(e.contains("bad.toml:3") && e.contains("body"), "{e}");
        store.close().await;
    }
}
