//! Issue 12, finding 7: a From header set to a customer's number made the caller that
//! customer, and a booking was held and charged on the customer's account.
//!
//! A flow that identifies the caller by number only and goes straight to booking (a flow
//! author's mistake, or an old flow) is run by the real binary for a sipp caller presenting
//! Hedy Perlman's number (+1 212 555 0113; she has items to book and a PIN). Call control
//! books on a customer's account only after a right PIN on the call, whatever the flow says:
//! the caller is offered no items (the flow takes `on_none`), no booking is held, and the
//! call record still shows the customer the number matched (for the agent's screen pop).

mod sip_util;

use sip_util::{Setup, Sipp, Switch, free_port};

const FLOW: &str = r#"
[flow]
name = "book_by_number"
start = "who"

[nodes.who]
type = "identify"
by = "caller_number"
found = "book"
not_found = "bye"

[nodes.book]
type = "booking"
category = "flights"
max_items = 3
intro_prompts = ["flow/available-times"]
next = "bye"
on_none = "no_items"

[nodes.no_items]
type = "hangup"
prompts = ["phrases/goodbye"]

[nodes.bye]
type = "hangup"
prompts = ["phrases/goodbye"]
"#;

const HEDY: &str = "+12125550113";
const NUMBER: &str = "+18005550177";

#[test]
fn a_caller_matched_by_number_only_is_offered_nothing_to_book() {
    let sw = Switch::start(Setup {
        flows: vec![("book_by_number.toml", FLOW.to_string())],
        extra: format!(
            "\n[[dialplan.routes]]\nnumber = \"{NUMBER}\"\npublic = true\nivr = \"book_by_number\"\n"
        ),
        ..Setup::default()
    });
    // The caller stays on the line up to 8 s; the flow hangs up long before (sipp may then
    // report the unexpected BYE: only the switch's records are judged).
    let caller = Sipp::spawn(
        sw.sip,
        "uac_wait.xml",
        free_port(),
        &["-key", "caller", HEDY, "-key", "dial", NUMBER, "-d", "8000"],
    );
    let _ = caller.success();
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "one call ended");
    let rec = sw.call_records(&ended).remove(0);
    assert!(
        rec.customer_id.is_some(),
        "the number matched Hedy (claimed): {rec:?}"
    );
    assert!(
        rec.ivr_path.iter().any(|n| n == "no_items"),
        "no items offered to a caller who did not prove who she is: {:?}",
        rec.ivr_path
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bookings = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let b = store.bookings_for_call(&ended[0]).await.expect("bookings");
        store.close().await;
        b
    });
    assert!(bookings.is_empty(), "no booking held: {bookings:?}");
}
