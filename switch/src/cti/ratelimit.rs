//! Command rate limits for CTI sessions: token buckets, one for every command and tighter ones
//! for commands with lasting effects (agent state changes, help requests to supervisors).
//!
//! A command over its limit is answered `rate_limited` and not executed. Time is an argument
//! (`now`), so the logic is tested without waiting; going back in time refills nothing.

use hotline_cti::Command;
use tokio::time::Instant;

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Most tokens held (the largest burst).
    pub burst: u32,
}

/// A token bucket: starts full, refills at `rate.per_sec`, holds at most `rate.burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            rate,
            tokens: f64::from(rate.burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let add = now.duration_since(self.last).as_secs_f64() * self.rate.per_sec;
            self.tokens = (self.tokens + add).min(f64::from(self.rate.burst));
            self.last = now;
        }
    }

    /// Would a token be there now? (Takes nothing.)
    fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.has_token(now) {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Which limits a command counts against (every command also counts against the general one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandClass {
    /// Only the general limit.
    General,
    /// Changes an agent's routing state or skills (each change is a stored row and an event to
    /// every supervisor).
    StateChange,
    /// A help request (an alert on every supervisor's desktop).
    Help,
}

impl CommandClass {
    pub fn of(cmd: &Command) -> Self {
        match cmd {
            Command::Ready
            | Command::NotReady { .. }
            | Command::EndWrapUp { .. }
            | Command::ForceNotReady { .. }
            | Command::ForceLogout { .. }
            | Command::SetSkills { .. } => CommandClass::StateChange,
            Command::RequestHelp { .. } => CommandClass::Help,
            _ => CommandClass::General,
        }
    }

    fn index(self) -> usize {
        match self {
            CommandClass::General => 0,
            CommandClass::StateChange => 1,
            CommandClass::Help => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CommandClass::General => "commands",
            CommandClass::StateChange => "state changes",
            CommandClass::Help => "help requests",
        }
    }
}

/// The rates from `[cti]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommandRates {
    pub general: Rate,
    pub state_change: Rate,
    pub help: Rate,
}

/// A command refused for its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    /// The limit it ran into.
    pub class: CommandClass,
    /// That limit's sustained rate (for the message).
    pub per_sec: f64,
    /// True for the first refusal by this limit since it last admitted a command (log once per
    /// episode, not per command).
    pub episode_start: bool,
}

/// Whether the session is being refused right now (to log an episode once, not every command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Episode {
    Admitting,
    Refusing,
}

/// One session's (or one not-yet-logged-in connection's) buckets.
#[derive(Debug, Clone)]
pub struct CommandLimits {
    rates: CommandRates,
    general: TokenBucket,
    state_change: TokenBucket,
    help: TokenBucket,
    /// Per limit (general, state changes, help).
    episodes: [Episode; 3],
}

impl CommandLimits {
    pub fn new(rates: CommandRates, now: Instant) -> Self {
        CommandLimits {
            rates,
            general: TokenBucket::new(rates.general, now),
            state_change: TokenBucket::new(rates.state_change, now),
            help: TokenBucket::new(rates.help, now),
            episodes: [Episode::Admitting; 3],
        }
    }

    /// Counts a command of `class`; `Err` when it is over a limit (then it takes no token from
    /// its class's bucket, so refused commands do not delay the next allowed one further).
    pub fn admit(&mut self, class: CommandClass, now: Instant) -> Result<(), Limited> {
        let (mut bucket, rate) = match class {
            CommandClass::General => (None, self.rates.general),
            CommandClass::StateChange => (Some(&mut self.state_change), self.rates.state_change),
            CommandClass::Help => (Some(&mut self.help), self.rates.help),
        };
        let class_ok = match &mut bucket {
            Some(b) => b.has_token(now),
            None => true,
        };
        let refused = if !class_ok {
            Some((class, rate.per_sec))
        } else if !self.general.has_token(now) {
            Some((CommandClass::General, self.rates.general.per_sec))
        } else {
            if let Some(b) = bucket {
                b.take(now);
            }
            self.general.take(now);
            None
        };
        match refused {
            None => {
                self.episodes[CommandClass::General.index()] = Episode::Admitting;
                self.episodes[class.index()] = Episode::Admitting;
                Ok(())
            }
            Some((class, per_sec)) => {
                let episode = &mut self.episodes[class.index()];
                let episode_start = *episode == Episode::Admitting;
                *episode = Episode::Refusing;
                Err(Limited {
                    class,
                    per_sec,
                    episode_start,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rates() -> CommandRates {
        CommandRates {
            general: Rate {
                per_sec: 20.0,
                burst: 40,
            },
            state_change: Rate {
                per_sec: 0.5,
                burst: 5,
            },
            help: Rate {
                per_sec: 0.1,
                burst: 3,
            },
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            Rate {
                per_sec: 10.0,
                burst: 3,
            },
            t0,
        );
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + ms(99)));
        assert!(b.take(t0 + ms(100)));
        assert!(!b.take(t0 + ms(150)));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
        // Time going backwards adds nothing.
        assert!(!b.take(t0));
    }

    /// 10,000 commands in 0.6 s: the general limit lets burst + 0.6 s of rate through, state
    /// changes and help requests far fewer.
    #[test]
    fn a_flood_is_cut_to_the_burst_plus_the_rate() {
        let t0 = Instant::now();
        let mut l = CommandLimits::new(rates(), t0);
        let mut admitted = [0u32; 3];
        let mut starts = 0;
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_micros(i * 60);
            let class = match i % 3 {
                0 => CommandClass::General,
                1 => CommandClass::StateChange,
                _ => CommandClass::Help,
            };
            match l.admit(class, now) {
                Ok(()) => admitted[(i % 3) as usize] += 1,
                Err(e) => starts += u32::from(e.episode_start),
            }
        }
        let total: u32 = admitted.iter().sum();
        // 40 burst + 0.6 s x 20/s = 52 at most.
        assert!(total <= 52, "{admitted:?}");
        assert!(admitted[1] <= 5, "state changes {admitted:?}");
        assert!(admitted[2] <= 3, "help requests {admitted:?}");
        assert!(total >= 40, "the burst itself is allowed: {admitted:?}");
        // Refusal episodes are few (one per time a token became free), not one per command.
        assert!(starts <= 20, "{starts} episodes");
    }

    #[test]
    fn a_refused_state_change_leaves_general_commands_alone() {
        let t0 = Instant::now();
        let mut l = CommandLimits::new(rates(), t0);
        for _ in 0..5 {
            assert!(l.admit(CommandClass::StateChange, t0).is_ok());
        }
        let e = l.admit(CommandClass::StateChange, t0).unwrap_err();
        assert_eq!(e.class, CommandClass::StateChange);
        assert!(e.episode_start);
        assert!(
            !l.admit(CommandClass::StateChange, t0)
                .unwrap_err()
                .episode_start
        );
        // Heartbeats and call commands still pass.
        assert!(l.admit(CommandClass::General, t0).is_ok());
        // Two seconds later one state change is allowed again.
        assert!(l.admit(CommandClass::StateChange, t0 + ms(2000)).is_ok());
        assert!(l.admit(CommandClass::StateChange, t0 + ms(2000)).is_err());
    }

    #[test]
    fn commands_map_to_classes() {
        use hotline_cti::{AgentId, ReasonCode};
        assert_eq!(CommandClass::of(&Command::Ready), CommandClass::StateChange);
        assert_eq!(
            CommandClass::of(&Command::NotReady {
                reason: ReasonCode::new("break")
            }),
            CommandClass::StateChange
        );
        assert_eq!(
            CommandClass::of(&Command::ForceLogout {
                agent: AgentId::new("a")
            }),
            CommandClass::StateChange
        );
        assert_eq!(
            CommandClass::of(&Command::RequestHelp {
                call: None,
                message: String::new()
            }),
            CommandClass::Help
        );
        assert_eq!(CommandClass::of(&Command::Heartbeat), CommandClass::General);
    }
}
