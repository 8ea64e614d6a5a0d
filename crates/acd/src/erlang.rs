//! The Erlang C formula (M/M/N queue, first come first served, no abandonment).
//!
//! Used by the simulator test to prove the engine routes as queueing theory says, and available
//! to workforce planning code.

use std::time::Duration;

/// Offered load in Erlangs: arrival rate (calls per second) times mean handle time (seconds).
pub fn offered_load(arrivals_per_sec: f64, mean_handle: Duration) -> f64 {
    arrivals_per_sec * mean_handle.as_secs_f64()
}

/// Erlang B blocking probability for `agents` servers and `load` Erlangs, by the stable
/// recursion `B(0) = 1`, `B(k) = A B(k-1) / (k + A B(k-1))`.
pub fn erlang_b(agents: u32, load: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=agents {
        b = load * b / (k as f64 + load * b);
    }
    b
}

/// Erlang C: probability that an arriving call has to wait. `1.0` when the system is overloaded
/// (`load >= agents`).
pub fn erlang_c(agents: u32, load: f64) -> f64 {
    let n = agents as f64;
    if load >= n {
        return 1.0;
    }
    if load <= 0.0 {
        return 0.0;
    }
    let b = erlang_b(agents, load);
    n * b / (n - load * (1.0 - b))
}

/// Service level: probability that a call is answered within `threshold`.
pub fn service_level(agents: u32, load: f64, mean_handle: Duration, threshold: Duration) -> f64 {
    let n = agents as f64;
    if load >= n {
        return 0.0;
    }
    let c = erlang_c(agents, load);
    let aht = mean_handle.as_secs_f64();
    1.0 - c * (-(n - load) * threshold.as_secs_f64() / aht).exp()
}

/// Average speed of answer (mean wait over all calls). `None` when overloaded.
pub fn average_wait(agents: u32, load: f64, mean_handle: Duration) -> Option<Duration> {
    let n = agents as f64;
    if load >= n {
        return None;
    }
    let secs = erlang_c(agents, load) * mean_handle.as_secs_f64() / (n - load);
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Classic table values: 2 agents, 1 Erlang -> C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // 1 agent (M/M/1): P(wait) = rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // Widely published example: 10 agents, 8 Erlangs -> about 0.409.
        assert!((erlang_c(10, 8.0) - 0.4092).abs() < 1e-3);
        assert_eq!(erlang_c(3, 3.0), 1.0);
        // M/M/1 mean wait = rho / (mu - lambda) = 0.5 * 10 / 0.5 = 10 s.
        let w = average_wait(1, 0.5, Duration::from_secs(10)).unwrap();
        assert!((w.as_secs_f64() - 10.0).abs() < 1e-9);
        // Service level with a zero threshold is 1 - C.
        let sl = service_level(10, 8.0, Duration::from_secs(180), Duration::ZERO);
        assert!((sl - (1.0 - erlang_c(10, 8.0))).abs() < 1e-12);
    }
}
