//! Queue configuration: skills required, strategy, timers, widening steps and overflow rules.
//!
//! Every type here is serde-friendly so the switch can load it from TOML; durations are written
//! as seconds (`ring_timeout = 20`, `after = 7.5`).

use crate::error::AcdError;
use crate::ids::{MAX_PROFICIENCY, MIN_PROFICIENCY, Proficiency, QueueId, SkillId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// How a queue picks among several ready agents when a call arrives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle for the longest time (ties: the agent who logged in first).
    #[default]
    LongestIdle,
    /// The agent who has answered the fewest calls since logging in, then longest idle.
    FewestCalls,
    /// The highest summed proficiency on the queue's required skills, then longest idle.
    MostSkilled,
    /// Agents in login order, resuming after the one offered last.
    RoundRobin,
    /// Every ready eligible agent rings at once; the first to answer takes the call.
    RingAll,
}

/// One skill a queue requires, with a minimum proficiency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillRequirement {
    /// The skill.
    pub skill: SkillId,
    /// Minimum proficiency, 1..=5.
    pub min: Proficiency,
}

impl SkillRequirement {
    /// `skill` at proficiency `min` or better.
    pub fn new(skill: impl Into<SkillId>, min: Proficiency) -> Self {
        Self {
            skill: skill.into(),
            min,
        }
    }
}

/// A routing step: after a call has waited `after` in this queue, its requirements relax.
/// Steps are cumulative, like Genesys's bullseye rings or Amazon Connect's routing steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WideningStep {
    /// Wait in this queue after which the step applies.
    #[serde(with = "secs")]
    pub after: Duration,
    /// Lower every minimum proficiency by this much (never below 1).
    #[serde(default)]
    pub lower_min_by: u8,
    /// Agents who qualify for these queues (at their base requirements) may also take the call.
    #[serde(default)]
    pub add_queues: Vec<QueueId>,
}

/// Why a call overflows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "when")]
pub enum OverflowCondition {
    /// The queue already holds this many waiting calls when a new one arrives.
    Capacity {
        /// Maximum number of waiting calls (callback requests included).
        max_waiting: usize,
    },
    /// The call has waited this long in the queue.
    MaxWait {
        /// Maximum wait.
        #[serde(with = "secs")]
        after: Duration,
    },
    /// No agent who could ever take the call (widest step) is logged in.
    NoAgents,
}

/// Where an overflowing call goes. Call control performs it; see [`crate::Decision::Overflow`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "to", content = "queue")]
pub enum OverflowTarget {
    /// Move to another queue, keeping the call's priority and original enqueue time.
    Queue(QueueId),
    /// Leave the ACD for voicemail (recorded into a ticket by call control).
    Voicemail,
    /// Offer the caller a callback. A call already in the queue stays at its place until call
    /// control reports the answer with [`crate::Acd::request_callback`]; a call refused at the door
    /// (capacity) leaves, and call control may add it with [`crate::Acd::enqueue_callback`].
    CallbackOffer,
}

/// One overflow rule of a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowRule {
    /// When it applies.
    #[serde(flatten)]
    pub condition: OverflowCondition,
    /// Where the call goes.
    pub target: OverflowTarget,
}

/// A queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// Its id.
    pub id: QueueId,
    /// Skills an agent needs to take its calls (all of them). Empty: every agent qualifies.
    #[serde(default)]
    pub requires: Vec<SkillRequirement>,
    /// How a call picks among ready agents.
    #[serde(default)]
    pub strategy: Strategy,
    /// How long a reserved agent's phone rings before the reservation is missed.
    #[serde(with = "secs", default = "default_ring")]
    pub ring_timeout: Duration,
    /// Enforced after-call work. Zero: the agent is ready again at hang-up.
    #[serde(with = "secs", default = "default_wrap")]
    pub wrap_up: Duration,
    /// Handle time assumed for the wait estimate until real calls have been measured.
    #[serde(with = "secs", default = "default_aht")]
    pub default_handle_time: Duration,
    /// Time-based widening, in increasing `after` order.
    #[serde(default)]
    pub widening: Vec<WideningStep>,
    /// Overflow rules.
    #[serde(default)]
    pub overflow: Vec<OverflowRule>,
    /// Emit [`crate::Decision::Announce`] (position and estimated wait) when a call is queued.
    #[serde(default)]
    pub announce: bool,
    /// Dial attempts for a callback before it is given up.
    #[serde(default = "default_cb_attempts")]
    pub callback_attempts: u32,
    /// Pause before a failed callback is offered again (it keeps its place).
    #[serde(with = "secs", default = "default_cb_retry")]
    pub callback_retry_delay: Duration,
}

fn default_ring() -> Duration {
    Duration::from_secs(20)
}
fn default_wrap() -> Duration {
    Duration::from_secs(30)
}
fn default_aht() -> Duration {
    Duration::from_secs(180)
}
fn default_cb_attempts() -> u32 {
    3
}
fn default_cb_retry() -> Duration {
    Duration::from_secs(120)
}

impl QueueConfig {
    /// A queue with defaults: longest idle, 20 s ring, 30 s wrap-up, no widening or overflow.
    pub fn new(id: impl Into<QueueId>) -> Self {
        Self {
            id: id.into(),
            requires: Vec::new(),
            strategy: Strategy::default(),
            ring_timeout: default_ring(),
            wrap_up: default_wrap(),
            default_handle_time: default_aht(),
            widening: Vec::new(),
            overflow: Vec::new(),
            announce: false,
            callback_attempts: default_cb_attempts(),
            callback_retry_delay: default_cb_retry(),
        }
    }

    /// Adds a required skill.
    pub fn require(mut self, skill: impl Into<SkillId>, min: Proficiency) -> Self {
        self.requires.push(SkillRequirement::new(skill, min));
        self
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the ring timeout.
    pub fn ring_timeout(mut self, d: Duration) -> Self {
        self.ring_timeout = d;
        self
    }

    /// Sets the wrap-up time.
    pub fn wrap_up(mut self, d: Duration) -> Self {
        self.wrap_up = d;
        self
    }

    /// Adds a widening step.
    pub fn widen(mut self, step: WideningStep) -> Self {
        self.widening.push(step);
        self
    }

    /// Adds an overflow rule.
    pub fn overflow(mut self, condition: OverflowCondition, target: OverflowTarget) -> Self {
        self.overflow.push(OverflowRule { condition, target });
        self
    }
}

/// The whole routing configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AcdConfig {
    /// The queues.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
}

impl AcdConfig {
    /// Checks the configuration: unique queue ids, proficiencies in 1..=5, increasing widening
    /// steps, every referenced queue exists.
    pub fn validate(&self) -> Result<(), AcdError> {
        let ids: HashSet<&QueueId> = self.queues.iter().map(|q| &q.id).collect();
        if ids.len() != self.queues.len() {
            return Err(AcdError::InvalidConfig("duplicate queue id".into()));
        }
        for q in &self.queues {
            for r in &q.requires {
                if !(MIN_PROFICIENCY..=MAX_PROFICIENCY).contains(&r.min) {
                    return Err(AcdError::InvalidConfig(format!(
                        "queue {}: skill {} minimum {} outside 1..=5",
                        q.id, r.skill, r.min
                    )));
                }
            }
            let mut last = None;
            for s in &q.widening {
                if last.is_some_and(|l| s.after <= l) {
                    return Err(AcdError::InvalidConfig(format!(
                        "queue {}: widening steps must have increasing `after`",
                        q.id
                    )));
                }
                last = Some(s.after);
                for extra in &s.add_queues {
                    if !ids.contains(extra) {
                        return Err(AcdError::InvalidConfig(format!(
                            "queue {}: widening adds unknown queue {extra}",
                            q.id
                        )));
                    }
                }
            }
            for o in &q.overflow {
                if let OverflowTarget::Queue(t) = &o.target
                    && !ids.contains(t)
                {
                    return Err(AcdError::InvalidConfig(format!(
                        "queue {}: overflow to unknown queue {t}",
                        q.id
                    )));
                }
            }
            if q.callback_attempts == 0 {
                return Err(AcdError::InvalidConfig(format!(
                    "queue {}: callback_attempts must be at least 1",
                    q.id
                )));
            }
        }
        Ok(())
    }
}

/// Durations as (fractional) seconds in configuration files.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_from_plain_data_with_defaults_and_seconds() {
        let json = r#"{ "queues": [
            { "id": "sales", "requires": [{ "skill": "en", "min": 2 }], "strategy": "most_skilled",
              "ring_timeout": 12.5,
              "widening": [{ "after": 30, "lower_min_by": 1 }, { "after": 60, "add_queues": ["general"] }],
              "overflow": [{ "when": "capacity", "max_waiting": 50, "target": { "to": "voicemail" } },
                           { "when": "max_wait", "after": 300, "target": { "to": "queue", "queue": "general" } }] },
            { "id": "general" } ] }"#;
        let cfg: AcdConfig = serde_json::from_str(json).expect("parses");
        cfg.validate().expect("valid");
        let q = &cfg.queues[0];
        assert_eq!(q.strategy, Strategy::MostSkilled);
        assert_eq!(q.ring_timeout, Duration::from_millis(12_500));
        assert_eq!(q.wrap_up, Duration::from_secs(30));
        assert_eq!(q.widening[1].add_queues, vec![QueueId::new("general")]);
        assert_eq!(
            q.overflow[1],
            OverflowRule {
                condition: OverflowCondition::MaxWait {
                    after: Duration::from_secs(300)
                },
                target: OverflowTarget::Queue(QueueId::new("general")),
            }
        );
        assert_eq!(cfg.queues[1].strategy, Strategy::LongestIdle);
        // Round trip, and ids are bare strings.
        let back: AcdConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).expect("prints")).expect("reparses");
        assert_eq!(back, cfg);
        assert_eq!(serde_json::to_string(&QueueId::new("x")).unwrap(), "\"x\"");
    }

    #[test]
    fn inconsistent_configs_are_refused() {
        let dup = AcdConfig {
            queues: vec![QueueConfig::new("a"), QueueConfig::new("a")],
        };
        assert!(dup.validate().is_err());
        let bad_min = AcdConfig {
            queues: vec![QueueConfig::new("a").require("x", 6)],
        };
        assert!(bad_min.validate().is_err());
        let unknown = AcdConfig {
            queues: vec![QueueConfig::new("a").overflow(
                OverflowCondition::NoAgents,
                OverflowTarget::Queue(QueueId::new("zzz")),
            )],
        };
        assert!(unknown.validate().is_err());
        let order = AcdConfig {
            queues: vec![
                QueueConfig::new("a")
                    .widen(WideningStep {
                        after: Duration::from_secs(60),
                        ..Default::default()
                    })
                    .widen(WideningStep {
                        after: Duration::from_secs(30),
                        ..Default::default()
                    }),
            ],
        };
        assert!(order.validate().is_err());
        let neg: Result<AcdConfig, _> =
            serde_json::from_str(r#"{"queues":[{"id":"a","ring_timeout":-1}]}"#);
        assert!(
            neg.is_err(),
            "a negative duration is a parse error, not a panic"
        );
    }
}
