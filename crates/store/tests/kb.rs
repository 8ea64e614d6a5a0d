//! The knowledge base on both back ends: articles created, edited with optimistic concurrency
//! (a stale version is a conflict), published and archived; the seed `config/kb.toml` loaded
//! once; agents' questions answered with the right article first (English through the
//! full-text engine, Chinese through the bigram fallback); query syntax in agents' text is
//! harmless; drafts and archived articles are never found; screen-pop suggestions ranked by
//! queue and reason match, then helpfulness; one vote per agent, changeable.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

fn seed() -> KbSeed {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/kb.toml");
    let text = std::fs::read_to_string(path).expect("config/kb.toml");
    toml::from_str(&text).expect("config/kb.toml parses")
}

async fn seeded(s: &Store) {
    let seed = seed();
    assert_eq!(
        s.seed_knowledge_base(&seed, T0).await.unwrap(),
        KbSeeded::Loaded(seed.articles.len())
    );
}

fn draft(title: &str, body: &str) -> NewArticle {
    NewArticle {
        title: title.into(),
        body: body.into(),
        tags: vec!["Router".into(), "reboot".into()],
        queues: vec!["support".into()],
        ivr_reasons: vec!["support".into()],
        language: Language::En,
        status: ArticleStatus::Draft,
        author: "editor".into(),
    }
}

async fn top_title(s: &Store, query: &str, language: Option<Language>) -> String {
    let hits = s.search_articles(query, language, 5).await.unwrap();
    assert!(!hits.is_empty(), "{query:?} found nothing");
    hits[0].title.clone()
}

async fn titles(s: &Store, query: &str) -> Vec<String> {
    s.search_articles(query, None, 20)
        .await
        .unwrap_or_else(|e| panic!("{query:?}: {e}"))
        .into_iter()
        .map(|h| h.title)
        .collect()
}

async fn agent(s: &Store, id: &str, ext: &str) {
    s.upsert_agent(
        &NewAgent {
            id: id.into(),
            name: id.into(),
            extension: ext.into(),
            role: Role::Agent,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        },
        T0,
    )
    .await
    .unwrap();
}

both_backends!(create_edit_and_version_conflict, async |db: &TestDb| {
    let s = &db.store;
    let a = s
        .create_article(&draft("Router reboots", "Check the power supply."), T0)
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    assert_eq!(a.tags, ["router", "reboot"]);
    assert_eq!(s.article(a.id).await.unwrap().as_ref(), Some(&a));
    // A draft is not found by agents.
    assert!(titles(s, "router").await.is_empty());

    // Two editors start from version 1; the second save is refused.
    let mut first = draft(
        "Router reboots by itself",
        "Check the power supply and firmware.",
    );
    first.queues = vec!["support".into(), "vip".into()];
    first.ivr_reasons = vec![];
    let v2 = s.update_article(a.id, 1, &first, T0 + 10).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.queues, ["support", "vip"]);
    assert!(v2.ivr_reasons.is_empty());
    assert_eq!((v2.created_at, v2.updated_at), (T0, T0 + 10));
    let e = s
        .update_article(a.id, 1, &draft("Other", "Other text."), T0 + 11)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("version 2"), "{e}");
    assert_eq!(
        s.article(a.id).await.unwrap().unwrap().title,
        "Router reboots by itself"
    );

    // Publishing is an edit too; then agents find it, with the new text indexed.
    let p = s
        .set_article_status(a.id, 2, ArticleStatus::Published, T0 + 12)
        .await
        .unwrap();
    assert_eq!((p.version, p.status), (3, ArticleStatus::Published));
    assert!(matches!(
        s.set_article_status(a.id, 2, ArticleStatus::Archived, T0 + 13)
            .await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(titles(s, "firmware").await, ["Router reboots by itself"]);
    assert!(titles(s, "Other").await.is_empty());
    let hit = &s.search_articles("firmware", None, 1).await.unwrap()[0];
    assert_eq!(hit.excerpt, "Check the power supply and firmware.");

    // An unknown article is not found, not a conflict; bad input names the fault.
    assert!(matches!(
        s.update_article(ArticleId(9_999), 1, &first, T0).await,
        Err(Error::NotFound(_))
    ));
    assert!(s.article(ArticleId(9_999)).await.unwrap().is_none());
    let e = s.create_article(&draft(" ", "x"), T0).await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");

    assert_eq!(s.list_articles(None).await.unwrap().len(), 1);
    assert!(
        s.list_articles(Some(ArticleStatus::Draft))
            .await
            .unwrap()
            .is_empty()
    );
});

both_backends!(seed_loads_once, async |db: &TestDb| {
    let s = &db.store;
    let seed = seed();
    assert!(seed.articles.len() >= 15, "{}", seed.articles.len());
    // A bad article in a seed loads nothing and is named.
    let mut bad = seed.clone();
    bad.articles[3].tags.push("two words".into());
    let e = s.seed_knowledge_base(&bad, T0).await.unwrap_err();
    assert!(e.to_string().contains("seed article 4"), "{e}");
    assert!(s.list_articles(None).await.unwrap().is_empty());

    seeded(s).await;
    assert_eq!(
        s.seed_knowledge_base(&seed, T0 + 1).await.unwrap(),
        KbSeeded::AlreadyHasArticles(seed.articles.len() as i64)
    );
    let all = s.list_articles(None).await.unwrap();
    assert_eq!(all.len(), seed.articles.len());
    let refund = all
        .iter()
        .find(|a| a.title == "Refund for a cancelled flight")
        .unwrap();
    assert_eq!(refund.queues, ["billing", "sales"]);
    assert_eq!(refund.ivr_reasons, ["billing"]);
});

both_backends!(
    agents_questions_find_the_right_article_first,
    async |db: &TestDb| {
        let s = &db.store;
        seeded(s).await;
        for (question, language, expected) in [
            (
                "customer wants refund for cancelled flight",
                None,
                "Refund for a cancelled flight",
            ),
            (
                "router keeps rebooting",
                None,
                "Router keeps rebooting or restarting by itself",
            ),
            ("how to pay invoice", None, "Pay an invoice by phone"),
            ("lost bag", None, "Delayed or lost baggage: file a report"),
            (
                "wants to change booking to another date",
                None,
                "Change a booking to another date or flight",
            ),
            ("Factory Reset", None, "Factory reset a router"),
            (
                "caller wants to cancel booking",
                None,
                "Cancel a booking: fees by fare type",
            ),
            ("客户的行李丢了", None, "行李延误或丢失怎么办"),
            ("航班取消了，客户要退款", None, "航班取消后的退款政策"),
            ("怎么电话支付账单", Some(Language::Zh), "通过电话支付账单"),
            ("refund", Some(Language::Zh), "航班取消后的退款政策"),
        ] {
            assert_eq!(
                top_title(s, question, language).await,
                expected,
                "{question:?}"
            );
        }
        // The language filter keeps other languages out.
        for hit in s
            .search_articles("refund", Some(Language::En), 20)
            .await
            .unwrap()
        {
            assert_eq!(hit.language, Language::En);
        }
        // Scores fall down the list.
        let hits = s.search_articles("invoice", None, 10).await.unwrap();
        assert!(hits.len() >= 2);
        assert!(
            hits.windows(2).all(|w| w[0].score >= w[1].score),
            "{hits:?}"
        );
    }
);

both_backends!(query_syntax_cannot_break_the_search, async |db: &TestDb| {
    let s = &db.store;
    seeded(s).await;
    assert_eq!(
        titles(s, "refund\" OR 1=1 --")
            .await
            .first()
            .map(String::as_str),
        Some("Refund for a cancelled flight")
    );
    assert_eq!(
        titles(s, "NEAR(router reboot")
            .await
            .first()
            .map(String::as_str),
        Some("Router keeps rebooting or restarting by itself")
    );
    assert_eq!(
        titles(s, "title:invoice* -pay")
            .await
            .first()
            .map(String::as_str),
        Some("Pay an invoice by phone")
    );
    for nothing in [
        "*",
        "(",
        ")",
        "\"",
        "--",
        "NEAR(",
        "OR",
        "AND NOT",
        "'; DROP TABLE kb_articles; --",
        "%",
        "_",
    ] {
        let found = titles(s, nothing).await;
        assert!(
            found
                .iter()
                .all(|t| !t.contains("draft") && !t.contains("2024")),
            "{nothing:?}: {found:?}"
        );
    }
    assert!(titles(s, "*").await.is_empty());
    assert!(titles(s, "%").await.is_empty());
    assert!(titles(s, "_").await.is_empty());
    // Wildcards between Chinese characters only separate them.
    assert_eq!(
        titles(s, "行李%丢失_").await.first().map(String::as_str),
        Some("行李延误或丢失怎么办")
    );
    assert_eq!(
        s.list_articles(None).await.unwrap().len(),
        seed().articles.len()
    );

    let e = s.search_articles("   ", None, 5).await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(e.to_string().contains("empty"), "{e}");
});

both_backends!(
    drafts_and_archived_articles_are_not_found,
    async |db: &TestDb| {
        let s = &db.store;
        seeded(s).await;
        let refund = titles(s, "refund policy").await;
        assert!(refund.contains(&"Refund for a cancelled flight".to_string()));
        assert!(
            !refund
                .iter()
                .any(|t| t.contains("draft") || t.contains("2024")),
            "{refund:?}"
        );
        assert!(titles(s, "2027").await.is_empty());
        assert!(titles(s, "2024").await.is_empty());
        let suggested = s
            .suggest_articles(Some("billing"), Some("billing"), None, 50)
            .await
            .unwrap();
        assert!(
            !suggested
                .iter()
                .any(|a| a.title.contains("draft") || a.title.contains("2024"))
        );

        // Archiving a published article takes it out of search and suggestions.
        let all = s
            .list_articles(Some(ArticleStatus::Published))
            .await
            .unwrap();
        let bag = all
            .iter()
            .find(|a| a.title.starts_with("Delayed or lost"))
            .unwrap();
        s.set_article_status(bag.id, bag.version, ArticleStatus::Archived, T0 + 5)
            .await
            .unwrap();
        assert!(!titles(s, "lost bag").await.contains(&bag.title));
        assert!(
            !s.suggest_articles(Some("support"), None, None, 50)
                .await
                .unwrap()
                .iter()
                .any(|a| a.id == bag.id)
        );
    }
);

both_backends!(suggestions_for_a_call, async |db: &TestDb| {
    let s = &db.store;
    seeded(s).await;
    let list = s
        .suggest_articles(Some("sales"), Some("billing"), Some(Language::En), 10)
        .await
        .unwrap();
    // Refund is for queue sales and reason billing: both match, so it comes first.
    assert_eq!(list[0].title, "Refund for a cancelled flight");
    assert_eq!(list[0].matched, SuggestionMatch::QueueAndReason);
    assert!(
        list[1..]
            .iter()
            .all(|a| a.matched != SuggestionMatch::QueueAndReason)
    );
    assert!(list.iter().all(|a| a.language == Language::En));
    let one_match: Vec<_> = list[1..].iter().map(|a| a.matched).collect();
    assert!(
        one_match.contains(&SuggestionMatch::Queue) && one_match.contains(&SuggestionMatch::Reason)
    );

    // Among equal matches the more helpful article comes first.
    agent(s, "ann", "201").await;
    agent(s, "bob", "202").await;
    let support = s
        .suggest_articles(Some("support"), Some("support"), Some(Language::En), 10)
        .await
        .unwrap();
    assert!(support.len() >= 3);
    let last = support.last().unwrap().clone();
    s.rate_article(last.id, "ann", Rating::Helpful, T0)
        .await
        .unwrap();
    let support = s
        .suggest_articles(Some("support"), Some("support"), Some(Language::En), 10)
        .await
        .unwrap();
    assert_eq!(support[0].id, last.id);
    assert_eq!(support[0].votes.helpful, 1);
    s.rate_article(last.id, "bob", Rating::NotHelpful, T0)
        .await
        .unwrap();
    s.rate_article(last.id, "ann", Rating::NotHelpful, T0)
        .await
        .unwrap();
    let support = s
        .suggest_articles(Some("support"), Some("support"), Some(Language::En), 10)
        .await
        .unwrap();
    assert_eq!(support.last().unwrap().id, last.id);

    // Chinese callers get Chinese articles; a queue alone works; nothing known, nothing suggested.
    let zh = s
        .suggest_articles(Some("billing"), None, Some(Language::Zh), 10)
        .await
        .unwrap();
    assert_eq!(zh.len(), 2, "{zh:?}");
    assert!(zh.iter().all(|a| a.matched == SuggestionMatch::Queue));
    let vip = s
        .suggest_articles(Some("vip"), Some("nothing"), None, 10)
        .await
        .unwrap();
    assert_eq!(vip.len(), 1);
    assert_eq!(vip[0].title, "Handling a complaint from a VIP customer");
    assert!(
        s.suggest_articles(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.suggest_articles(Some("nope"), None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.suggest_articles(Some("support"), None, None, 2)
            .await
            .unwrap()
            .len(),
        2
    );
});

both_backends!(one_vote_per_agent_changeable, async |db: &TestDb| {
    let s = &db.store;
    agent(s, "ann", "201").await;
    agent(s, "bob", "202").await;
    let mut a = draft("Router reboots", "Check the power supply.");
    a.status = ArticleStatus::Published;
    let a = s.create_article(&a, T0).await.unwrap();
    let votes = |h, n| ArticleVotes {
        helpful: h,
        not_helpful: n,
    };

    assert_eq!(
        s.rate_article(a.id, "ann", Rating::Helpful, T0)
            .await
            .unwrap(),
        votes(1, 0)
    );
    // The same vote again (a double click, a retry) counts once.
    assert_eq!(
        s.rate_article(a.id, "ann", Rating::Helpful, T0 + 1)
            .await
            .unwrap(),
        votes(1, 0)
    );
    assert_eq!(
        s.rate_article(a.id, "bob", Rating::Helpful, T0 + 2)
            .await
            .unwrap(),
        votes(2, 0)
    );
    // Ann changes her mind.
    assert_eq!(
        s.rate_article(a.id, "ann", Rating::NotHelpful, T0 + 3)
            .await
            .unwrap(),
        votes(1, 1)
    );
    assert_eq!(
        s.article_rating(a.id, "ann").await.unwrap(),
        Some(Rating::NotHelpful)
    );
    assert_eq!(
        s.article_rating(a.id, "bob").await.unwrap(),
        Some(Rating::Helpful)
    );
    assert_eq!(s.article_rating(a.id, "cid").await.unwrap(), None);
    let stored = s.article(a.id).await.unwrap().unwrap();
    assert_eq!(stored.votes, votes(1, 1));
    // Votes are not edits: the version an editor holds stays valid.
    assert_eq!(stored.version, 1);

    assert!(matches!(
        s.rate_article(a.id, "nobody", Rating::Helpful, T0).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.rate_article(ArticleId(424_242), "ann", Rating::Helpful, T0)
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.article(a.id).await.unwrap().unwrap().votes, votes(1, 1));

    // Concurrent votes by different agents on one article all count.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let id = format!("agent{i}");
        agent(s, &id, &format!("30{i}")).await;
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.rate_article(a.id, &id, Rating::Helpful, T0 + 10)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.article(a.id).await.unwrap().unwrap().votes, votes(7, 1));
});
