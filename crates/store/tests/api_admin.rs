//! What the REST API needs from the store, on SQLite and (when `HOTLINE_TEST_PG_URL` is set)
//! on PostgreSQL: API tokens stored by hash and revoked, the audit log paged, agents created without overwriting,
//! paged, renamed, disabled and given a new password, and the skills listed.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

fn hash(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

async fn tokens(db: TestDb) {
    let s = &db.store;
    let t = s
        .create_api_token(
            &NewApiToken {
                name: "ops".into(),
                role: ApiRole::Admin,
                token_hash: hash('a'),
                created_by: "cli".into(),
            },
            T0,
        )
        .await
        .expect("create token");
    assert_eq!((t.role, t.revoked_at), (ApiRole::Admin, None));
    let found = s.api_token_by_hash(&hash('a')).await.unwrap().unwrap();
    assert_eq!(found, t);
    assert!(s.api_token_by_hash(&hash('b')).await.unwrap().is_none());
    // The same secret twice is refused; a malformed hash never reaches the table.
    let again = NewApiToken {
        name: "dup".into(),
        role: ApiRole::Integration,
        token_hash: hash('a'),
        created_by: "cli".into(),
    };
    assert!(matches!(
        s.create_api_token(&again, T0).await,
        Err(Error::Conflict(_))
    ));
    let bad = NewApiToken {
        token_hash: "NOT-HEX".into(),
        ..again.clone()
    };
    assert!(matches!(
        s.create_api_token(&bad, T0).await,
        Err(Error::Invalid(_))
    ));
    // Revoking keeps the row and the first revocation time.
    let revoked = s.revoke_api_token(t.id, T0 + 5).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T0 + 5));
    let twice = s.revoke_api_token(t.id, T0 + 9).await.unwrap();
    assert_eq!(twice.revoked_at, Some(T0 + 5));
    assert!(matches!(
        s.revoke_api_token(9999, T0).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.api_tokens().await.unwrap(), vec![twice]);

    // The audit log a page at a time, in the order written.
    for i in 0..3 {
        s.audit(&AuditEntry {
            at: T0 - i, // out of time order on purpose: pages follow the rows
            actor: format!("token:{}:ops", t.id),
            action: format!("api.test.{i}"),
            target: None,
            call_id: None,
            allowed: true,
            detail: serde_json::json!({ "i": i }),
        })
        .await
        .unwrap();
    }
    let first = s.audit_page(None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[1].1.action, "api.test.1");
    let rest = s.audit_page(Some(first[1].0), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1.action, "api.test.2");
    assert_eq!(rest[0].1.detail["i"], 2);
    db.cleanup().await;
}

fn new_agent(id: &str, ext: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        name: format!("Agent {id}"),
        extension: ext.into(),
        role: Role::Agent,
        password_hash: password::hash("pw-123456").unwrap(),
    }
}

async fn agents(db: TestDb) {
    let s = &db.store;
    let a = s.create_agent(&new_agent("ann", "201"), T0).await.unwrap();
    assert!(a.active);
    s.create_agent(&new_agent("bob", "202"), T0).await.unwrap();
    s.create_agent(&new_agent("cid", "203"), T0).await.unwrap();
    assert!(matches!(
        s.create_agent(&new_agent("ann", "299"), T0).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.create_agent(&new_agent("dan", "201"), T0).await,
        Err(Error::Conflict(_))
    ));
    // Keyset pages.
    let page1 = s.agents_page(None, 2, false).await.unwrap();
    let ids: Vec<_> = page1.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["ann", "bob"]);
    let page2 = s.agents_page(Some("bob"), 2, false).await.unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].id, "cid");
    // Update, conflict on extension, unknown agent.
    let up = s
        .update_agent("bob", Some("Bob Builder"), Some("212"), T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (up.name.as_str(), up.extension.as_str(), up.updated_at),
        ("Bob Builder", "212", T0 + 1)
    );
    assert!(matches!(
        s.update_agent("bob", None, Some("201"), T0).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.update_agent("zed", Some("Z"), None, T0).await,
        Err(Error::NotFound(_))
    ));
    // Disable: gone from the default list, still readable, refused at login.
    let off = s.set_agent_active("cid", false, T0 + 2).await.unwrap();
    assert!(!off.active);
    assert_eq!(s.agents_page(None, 10, false).await.unwrap().len(), 2);
    assert_eq!(s.agents_page(None, 10, true).await.unwrap().len(), 3);
    assert!(!s.agent_credentials("cid").await.unwrap().unwrap().active);
    // New password.
    let h = password::hash("new-secret-1").unwrap();
    s.set_agent_password("ann", &h, T0 + 3).await.unwrap();
    let creds = s.agent_credentials("ann").await.unwrap().unwrap();
    assert!(password::verify("new-secret-1", &creds.password_hash));
    assert!(matches!(
        s.set_agent_password("zed", &h, T0).await,
        Err(Error::NotFound(_))
    ));
    // Skills.
    s.upsert_skill("billing", "Invoices").await.unwrap();
    s.upsert_skill("english", "").await.unwrap();
    let names: Vec<_> = s
        .skills()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    let level = |skill: &str, proficiency| SkillLevel {
        skill: skill.into(),
        proficiency,
    };
    s.set_agent_skills("ann", &[level("english", 3), level("billing", 5)])
        .await
        .unwrap();
    s.set_agent_skills("cid", &[level("billing", 1)])
        .await
        .unwrap();
    let page = s.agent_skills_between("ann", "bob").await.unwrap();
    assert_eq!(
        page,
        [
            ("ann".to_string(), level("billing", 5)),
            ("ann".to_string(), level("english", 3)),
        ]
    );
    assert_eq!(s.agent_skills_between("ann", "cid").await.unwrap().len(), 3);
    assert_eq!(names, ["billing", "english"]);
    db.cleanup().await;
}

#[tokio::test]
async fn tokens_sqlite() {
    tokens(common::sqlite().await).await;
}

#[tokio::test]
async fn tokens_postgres() {
    if let Some(db) = common::postgres().await {
        tokens(db).await;
    }
}

#[tokio::test]
async fn agents_sqlite() {
    agents(common::sqlite().await).await;
}

#[tokio::test]
async fn agents_postgres() {
    if let Some(db) = common::postgres().await {
        agents(db).await;
    }
}

async fn customers_and_tickets(db: TestDb) {
    let s = &db.store;
    let ada = s
        .create_customer(
            &NewCustomer {
                display_name: "Ada".into(),
                notes: "first".into(),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    let (before, after) = s
        .update_customer(ada, Some("Ada Lovelace"), Some("gold"), None, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (before.display_name.as_str(), before.tier.as_str()),
        ("Ada", "standard")
    );
    assert_eq!(
        (
            after.display_name.as_str(),
            after.tier.as_str(),
            after.notes.as_str()
        ),
        ("Ada Lovelace", "gold", "first")
    );
    assert_eq!(after.priority, tier_priority("gold"));
    let (_, after) = s
        .update_customer(ada, None, None, Some("calls on Mondays"), T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        (after.tier.as_str(), after.notes.as_str()),
        ("gold", "calls on Mondays")
    );
    assert!(matches!(
        s.update_customer(ada, None, Some("platinum"), None, T0)
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.update_customer(9999, Some("X"), None, None, T0).await,
        Err(Error::NotFound(_))
    ));

    let other = s
        .create_customer(
            &NewCustomer {
                display_name: "Bo".into(),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (i, c) in [ada, other, ada, ada].into_iter().enumerate() {
        ids.push(
            s.create_ticket(&NewTicket {
                customer_id: Some(c),
                subject: format!("ticket {i}"),
                at: T0 + i as i64,
                ..Default::default()
            })
            .await
            .unwrap(),
        );
    }
    s.update_ticket(
        ids[2],
        &TicketUpdate {
            status: Some("solved".into()),
            at: T0 + 9,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let page = s.tickets_page(Some(ada), None, None, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|t| t.id).collect::<Vec<_>>(),
        [ids[0], ids[2]]
    );
    let page = s
        .tickets_page(Some(ada), None, Some(ids[2]), 2)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|t| t.id).collect::<Vec<_>>(), [ids[3]]);
    let open = s
        .tickets_page(Some(ada), Some("open"), None, 10)
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|t| t.id).collect::<Vec<_>>(),
        [ids[0], ids[3]]
    );
    let solved = s
        .tickets_page(None, Some("solved"), None, 10)
        .await
        .unwrap();
    assert_eq!(solved.iter().map(|t| t.id).collect::<Vec<_>>(), [ids[2]]);
    assert_eq!(s.tickets_page(None, None, None, 10).await.unwrap().len(), 4);
    assert!(matches!(
        s.tickets_page(None, Some("lost"), None, 10).await,
        Err(Error::Invalid(_))
    ));
    db.cleanup().await;
}

#[tokio::test]
async fn customers_and_tickets_sqlite() {
    customers_and_tickets(common::sqlite().await).await;
}

#[tokio::test]
async fn customers_and_tickets_postgres() {
    if let Some(db) = common::postgres().await {
        customers_and_tickets(db).await;
    }
}
