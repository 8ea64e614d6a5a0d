//! Customers' balances on both back ends: set by the billing system, shown in the customer
//! view, lowered once per approved balance payment (a retried settlement changes nothing),
//! refused for a payment not approved or in another currency, and summed by a merge.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

async fn customer(s: &Store, name: &str) -> CustomerId {
    s.create_customer(
        &NewCustomer {
            display_name: name.into(),
            tier: "silver".into(),
            ..Default::default()
        },
        T0,
    )
    .await
    .unwrap()
}

fn payment(key: &str, customer: CustomerId, amount: i64, currency: &str) -> Payment {
    Payment {
        idempotency_key: key.into(),
        booking_id: None,
        customer_id: Some(customer),
        call_id: Some("call-b".into()),
        amount_minor: amount,
        currency: currency.into(),
        status: "pending".into(),
        decline_reason: None,
        gateway: "sandbox".into(),
        gateway_ref: None,
        card_token: None,
        card_brand: None,
        card_last4: None,
        reference: None,
        at: T0,
    }
}

async fn approve(s: &Store, mut p: Payment) {
    s.record_payment(&p).await.unwrap();
    p.status = "approved".into();
    p.card_token = Some("tok_sandbox_000001".into());
    p.card_brand = Some("visa".into());
    p.card_last4 = Some("1111".into());
    s.record_payment(&p).await.unwrap();
}

both_backends!(a_payment_settles_a_balance_once, async |db: &TestDb| {
    let s = &db.store;
    let hedy = customer(s, "Hedy Perlman").await;
    assert_eq!(s.balance(hedy).await.unwrap(), None);
    assert!(
        s.customer_view_by_id(hedy)
            .await
            .unwrap()
            .unwrap()
            .balance
            .is_none()
    );
    s.set_balance(hedy, 4275, "USD", "billing-sync", T0 + 1)
        .await
        .unwrap();
    let view = s.customer_view_by_id(hedy).await.unwrap().unwrap();
    assert_eq!(
        view.balance,
        Some(Balance {
            amount_minor: 4275,
            currency: "USD".into(),
            updated_at: T0 + 1
        })
    );

    // A pending payment settles nothing.
    let p = payment("call-b:pay_balance:1", hedy, 4000, "USD");
    s.record_payment(&p).await.unwrap();
    assert!(matches!(
        s.settle_balance("call-b:pay_balance:1", T0 + 2).await,
        Err(Error::Invalid(_))
    ));
    approve(s, p).await;
    let Settlement::Settled(after) = s
        .settle_balance("call-b:pay_balance:1", T0 + 3)
        .await
        .unwrap()
    else {
        panic!("first settlement")
    };
    assert_eq!((after.amount_minor, after.currency.as_str()), (275, "USD"));
    // The same payment again (a retry after a lost answer): nothing changes.
    assert_eq!(
        s.settle_balance("call-b:pay_balance:1", T0 + 4)
            .await
            .unwrap(),
        Settlement::AlreadySettled
    );
    assert_eq!(s.balance(hedy).await.unwrap().unwrap().amount_minor, 275);

    // Another currency does not settle; an unknown payment is not found.
    approve(s, payment("call-b:pay_balance:2", hedy, 275, "EUR")).await;
    assert!(matches!(
        s.settle_balance("call-b:pay_balance:2", T0 + 5).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.settle_balance("nope", T0 + 5).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.balance(hedy).await.unwrap().unwrap().amount_minor, 275);

    // Bad input names what is wrong.
    let e = s.set_balance(hedy, 1, "usd", "x", T0).await.unwrap_err();
    assert!(e.to_string().contains("ISO 4217"), "{e}");
    assert!(matches!(
        s.set_balance(999_999, 1, "USD", "x", T0).await,
        Err(Error::NotFound(_))
    ));
});

both_backends!(
    a_merge_adds_balances_in_one_currency,
    async |db: &TestDb| {
        let s = &db.store;
        let keep = customer(s, "Grace Liskov").await;
        let absorb = customer(s, "G. Liskov").await;
        s.set_balance(keep, 10_000, "USD", "billing-sync", T0)
            .await
            .unwrap();
        s.set_balance(absorb, 2_550, "USD", "billing-sync", T0)
            .await
            .unwrap();
        s.merge_customers(keep, absorb, T0 + 1).await.unwrap();
        assert_eq!(s.balance(keep).await.unwrap().unwrap().amount_minor, 12_550);
        assert_eq!(s.balance(absorb).await.unwrap(), None);

        // In two currencies the merge is refused and nothing moves.
        let other = customer(s, "Grace L.").await;
        s.set_balance(other, 500, "CNY", "billing-sync", T0)
            .await
            .unwrap();
        let e = s.merge_customers(keep, other, T0 + 2).await.unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert_eq!(s.balance(other).await.unwrap().unwrap().amount_minor, 500);
        assert_eq!(s.balance(keep).await.unwrap().unwrap().amount_minor, 12_550);
    }
);
