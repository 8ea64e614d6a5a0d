//! Agent-assisted payment: the agent hands the caller to the payment flow and stays on the
//! line, hearing no tones; the desktop sees progress (counts), never digits.

use std::time::Instant;

use super::Core;

impl Core {
    /// Hands the caller of call `key` to the payment flow for `amount_minor` in `currency`.
    pub(crate) fn start_payment(
        &mut self,
        _now: Instant,
        _key: u64,
        _amount_minor: i64,
        _currency: &str,
    ) -> Result<(), String> {
        Err("start payment is not supported by call control yet".into())
    }
}
