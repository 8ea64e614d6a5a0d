//! Conversions from the shared database's records (`hotline-records`, the plain values that
//! `hotline-store` reads and writes) to the wire types, for call control (screen pops) and the
//! desktop (customer search). Behind the `records` feature, so the protocol crate alone knows
//! nothing of the database's shapes.

/// The store's unified customer view as the CTI's: what the switch puts in a screen pop and the
/// desktop draws for a searched customer.
pub fn customer_view(v: &hotline_records::CustomerView) -> crate::CustomerView {
    use crate::{
        AgentId, BookingSummary, CallId, ContactSummary, CustomerId, Disposition, Identity, Pii,
        QueueId, TicketId, TicketPriority, TicketStatus, TicketSummary, UnixMillis,
    };
    let ms = |m: i64| UnixMillis(u64::try_from(m).unwrap_or(0));
    crate::CustomerView {
        id: CustomerId::new(v.customer.id.to_string()),
        name: Pii::new(v.customer.display_name.clone()),
        tier: v.customer.tier.clone(),
        identities: v
            .identities
            .iter()
            .map(|i| Identity {
                kind: i.kind.as_str().to_owned(),
                value: Pii::new(i.value.clone()),
                verified: i.verified,
            })
            .collect(),
        last_contacts: v
            .recent_contacts
            .iter()
            .map(|c| ContactSummary {
                call: CallId::new(c.call_id.clone()),
                at: ms(c.arrived_at),
                agent: c.agent_id.clone().map(AgentId::new),
                queue: c.queue_id.clone().map(QueueId::new),
                disposition: c.disposition.clone().map(Disposition::new),
                summary: c
                    .notes
                    .as_ref()
                    .and_then(|n| n.lines().next().map(|l| Pii::new(l.to_owned()))),
            })
            .collect(),
        open_tickets: v
            .open_tickets
            .iter()
            .map(|t| TicketSummary {
                id: TicketId::new(t.id.to_string()),
                subject: t.subject.clone(),
                status: match t.status.as_str() {
                    "pending" => TicketStatus::Pending,
                    "solved" => TicketStatus::Solved,
                    "closed" => TicketStatus::Closed,
                    _ => TicketStatus::Open,
                },
                priority: match t.priority.as_str() {
                    "low" => TicketPriority::Low,
                    "high" => TicketPriority::High,
                    "urgent" => TicketPriority::Urgent,
                    _ => TicketPriority::Normal,
                },
                updated_at: ms(t.updated_at),
            })
            .collect(),
        bookings: v
            .bookings
            .iter()
            .map(|b| BookingSummary {
                id: crate::BookingId::new(b.id.to_string()),
                what: b.item_name.clone(),
                at: ms(b.starts_at.unwrap_or(b.created_at)),
                status: b.status.clone(),
            })
            .collect(),
        birthday: v.customer.birthday.clone().map(Pii::new),
        balance_due: v
            .balance
            .as_ref()
            .filter(|b| b.amount_minor > 0)
            .map(|b| crate::Money {
                minor: b.amount_minor.unsigned_abs(),
                currency: b.currency.clone(),
            }),
    }
}
