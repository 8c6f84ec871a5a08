//! Waste and risk flags of a run, kept current step by step as its events arrive: context bloat
//! (input tokens grown to several times those of the first steps), runaway loops (too many steps, or
//! the same call repeated many times in a row), and staleness (still running long after its last
//! event). Each flag names the step where the pattern began.

use chrono::{DateTime, TimeDelta, Utc};

use super::pricing::Usage;

/// The thresholds, with documented defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagSettings {
    /// Steps whose average input tokens is the baseline for context bloat.
    pub bloat_baseline_steps: u64,
    /// A step is bloated when its input tokens reach this many times the baseline average…
    pub bloat_factor: u64,
    /// …and at least this many tokens (tiny prompts growing is not bloat).
    pub bloat_min_input_tokens: u64,
    /// More steps than this is a runaway loop.
    pub loop_max_steps: u64,
    /// This many identical calls in a row (same provider, model and token counts) is a runaway loop.
    pub loop_repeats: u64,
    /// A run still `RUNNING` this long after its last event (or its start) is stale.
    pub stale_after: TimeDelta,
}

impl Default for FlagSettings {
    fn default() -> Self {
        Self {
            bloat_baseline_steps: 3,
            bloat_factor: 4,
            bloat_min_input_tokens: 2_000,
            loop_max_steps: 200,
            loop_repeats: 10,
            stale_after: TimeDelta::hours(1),
        }
    }
}

/// The counters a run keeps for its flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagCounters {
    /// Steps seen so far.
    pub steps: u64,
    /// The first steps (up to `bloat_baseline_steps`) and the sum of their input tokens.
    pub baseline_steps: u64,
    pub baseline_input_tokens: u64,
    pub max_step_input_tokens: u64,
    /// The first bloated step, if any.
    pub bloat_step: Option<u64>,
    /// The last call and how many identical calls in a row ended with it, from which step.
    pub last_call_signature: Option<String>,
    pub repeat_streak: u64,
    pub repeat_start_step: u64,
    pub max_repeat_streak: u64,
    /// The first step of the first streak that reached `loop_repeats`, if any.
    pub loop_step: Option<u64>,
}

/// One step of a run: a service line, in usage-time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub usage: &'a Usage,
}

impl Step<'_> {
    /// What makes two calls identical for loop detection.
    fn signature(&self) -> String {
        let u = self.usage;
        format!(
            "{}/{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.provider,
            self.model,
            u.input_tokens,
            u.output_tokens,
            u.cached_input_tokens,
            u.cache_creation_tokens,
            u.reasoning_tokens,
            u.quantity
        )
    }
}

impl FlagCounters {
    /// Takes one more step into account.
    pub fn observe(&mut self, step: &Step<'_>, settings: &FlagSettings) {
        self.steps += 1;
        let number = self.steps;
        let input = step.usage.input_tokens.unwrap_or(0);
        self.max_step_input_tokens = self.max_step_input_tokens.max(input);
        if self.baseline_steps < settings.bloat_baseline_steps {
            self.baseline_steps += 1;
            self.baseline_input_tokens = self.baseline_input_tokens.saturating_add(input);
        } else if self.bloat_step.is_none() && self.is_bloated(input, settings) {
            self.bloat_step = Some(number);
        }

        let signature = step.signature();
        if self.last_call_signature.as_deref() == Some(signature.as_str()) {
            self.repeat_streak += 1;
        } else {
            self.repeat_streak = 1;
            self.repeat_start_step = number;
            self.last_call_signature = Some(signature);
        }
        self.max_repeat_streak = self.max_repeat_streak.max(self.repeat_streak);
        if self.loop_step.is_none() && self.repeat_streak >= settings.loop_repeats {
            self.loop_step = Some(self.repeat_start_step);
        }
    }

    fn is_bloated(&self, input: u64, settings: &FlagSettings) -> bool {
        if self.baseline_steps == 0 || input < settings.bloat_min_input_tokens {
            return false;
        }
        // input ≥ factor × (baseline sum / baseline steps), without division.
        u128::from(input) * u128::from(self.baseline_steps)
            >= u128::from(settings.bloat_factor) * u128::from(self.baseline_input_tokens)
    }

    /// The baseline average input tokens, for explanations.
    pub fn baseline_average(&self) -> u64 {
        self.baseline_input_tokens
            .checked_div(self.baseline_steps)
            .unwrap_or(0)
    }
}

/// A raised flag and where it began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub kind: FlagKind,
    pub step: Option<u64>,
    pub budget: Option<uuid::Uuid>,
    pub detail: String,
}

/// The kinds of flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    ContextBloat,
    RunawayLoop,
    BudgetExceeded,
    Stale,
}

/// What a run's flags are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagState {
    pub counters: FlagCounters,
    pub running: bool,
    pub start_time: DateTime<Utc>,
    pub last_event_time: Option<DateTime<Utc>>,
    pub exceeded_budget: Option<uuid::Uuid>,
    pub budget_exceeded: bool,
}

/// The flags raised on a run at `now`.
pub fn flags(state: &FlagState, settings: &FlagSettings, now: DateTime<Utc>) -> Vec<Flag> {
    let counters = &state.counters;
    let mut flags = Vec::new();
    if let Some(step) = counters.bloat_step {
        flags.push(Flag {
            kind: FlagKind::ContextBloat,
            step: Some(step),
            budget: None,
            detail: format!(
                "input tokens reached {} by step {step}, {} or more times the first {} steps' average of {}",
                counters.max_step_input_tokens,
                settings.bloat_factor,
                counters.baseline_steps,
                counters.baseline_average()
            ),
        });
    }
    if counters.steps > settings.loop_max_steps || counters.loop_step.is_some() {
        let (step, detail) = match counters.loop_step {
            Some(step) => (
                step,
                format!(
                    "the same call repeated {} times in a row from step {step}",
                    counters.max_repeat_streak
                ),
            ),
            None => (
                settings.loop_max_steps + 1,
                format!(
                    "{} steps, more than the limit of {}",
                    counters.steps, settings.loop_max_steps
                ),
            ),
        };
        flags.push(Flag {
            kind: FlagKind::RunawayLoop,
            step: Some(step),
            budget: None,
            detail,
        });
    }
    if state.budget_exceeded {
        flags.push(Flag {
            kind: FlagKind::BudgetExceeded,
            step: None,
            budget: state.exceeded_budget,
            detail: "the run's spend passed the limit of a budget that applies to it".to_owned(),
        });
    }
    let quiet_since = state.last_event_time.unwrap_or(state.start_time);
    if state.running && now - quiet_since > settings.stale_after {
        flags.push(Flag {
            kind: FlagKind::Stale,
            step: None,
            budget: None,
            detail: format!(
                "still running {} minutes after its last activity",
                (now - quiet_since).num_minutes()
            ),
        });
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            ..Usage::default()
        }
    }

    fn run(steps: &[Usage]) -> FlagCounters {
        let mut counters = FlagCounters::default();
        for usage in steps {
            counters.observe(
                &Step {
                    provider: "openai",
                    model: "gpt-4o",
                    usage,
                },
                &FlagSettings::default(),
            );
        }
        counters
    }

    fn state(counters: FlagCounters) -> FlagState {
        FlagState {
            counters,
            running: false,
            start_time: Utc::now(),
            last_event_time: None,
            exceeded_budget: None,
            budget_exceeded: false,
        }
    }

    #[test]
    fn growing_context_is_flagged_at_the_step_it_began() {
        let counters = run(&[
            usage(1_000, 10),
            usage(1_200, 10),
            usage(1_100, 10),
            usage(2_500, 10),
            usage(4_400, 10),
        ]);
        assert_eq!(
            counters.bloat_step,
            Some(5),
            "4400 ≥ 4 × 1100, the first steps' average"
        );
        let flags = flags(&state(counters), &FlagSettings::default(), Utc::now());
        assert_eq!(flags[0].kind, FlagKind::ContextBloat);
        assert_eq!(flags[0].step, Some(5));
    }

    #[test]
    fn a_normal_run_raises_nothing() {
        let counters = run(&[
            usage(1_000, 10),
            usage(1_300, 20),
            usage(900, 15),
            usage(1_500, 5),
            usage(1_200, 8),
        ]);
        assert!(flags(&state(counters), &FlagSettings::default(), Utc::now()).is_empty());
    }

    #[test]
    fn repeated_identical_calls_are_a_loop_from_the_first_of_them() {
        let mut steps = vec![usage(500, 50), usage(600, 60)];
        steps.extend(std::iter::repeat_n(usage(700, 70), 10));
        let counters = run(&steps);
        assert_eq!(counters.loop_step, Some(3));
        let flags = flags(&state(counters), &FlagSettings::default(), Utc::now());
        assert!(
            flags
                .iter()
                .any(|f| f.kind == FlagKind::RunawayLoop && f.step == Some(3))
        );
        let nine = run(&std::iter::repeat_n(usage(700, 70), 9).collect::<Vec<_>>());
        assert_eq!(nine.loop_step, None, "nine in a row is not yet a loop");
    }

    #[test]
    fn too_many_steps_is_a_loop() {
        let steps: Vec<Usage> = (0..201).map(|n| usage(100 + n, 10)).collect();
        let flags = flags(&state(run(&steps)), &FlagSettings::default(), Utc::now());
        assert!(
            flags
                .iter()
                .any(|f| f.kind == FlagKind::RunawayLoop && f.step == Some(201))
        );
    }

    #[test]
    fn a_quiet_running_run_is_stale() {
        let mut quiet = state(FlagCounters::default());
        quiet.running = true;
        quiet.start_time = Utc::now() - TimeDelta::hours(2);
        assert!(
            flags(&quiet, &FlagSettings::default(), Utc::now())
                .iter()
                .any(|f| f.kind == FlagKind::Stale)
        );
        quiet.last_event_time = Some(Utc::now() - TimeDelta::minutes(5));
        assert!(flags(&quiet, &FlagSettings::default(), Utc::now()).is_empty());
    }
}
