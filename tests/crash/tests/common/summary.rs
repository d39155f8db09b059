//! The line a run prints at its end: what was sent, what survived, what recovery did.

use std::time::Duration;

use crate::common::ledger::Findings;
use crate::common::recovery::Recoveries;

/// What a run saw.
#[derive(Debug, Default)]
pub struct Summary {
    pub durability: String,
    pub seed: u64,
    pub cycles: u32,
    pub elapsed: Duration,
    pub acked_batches: u64,
    pub acked_messages: u64,
    pub unknown_batches: u64,
    pub consumed_messages: u64,
    pub stores_acked: u64,
    pub early_kills: u64,
    /// Early kills that came before the server listened.
    pub early_kills_before_ready: u64,
    /// Summed over cycles; the loss window is the largest.
    pub findings: Findings,
    pub acked_lost_cycle_max: u64,
    pub recoveries: Recoveries,
    pub messages_at_end: u64,
    /// Topics moved past (deleted) to keep read-backs bounded, and the messages they held.
    pub topics: u32,
    pub messages_in_deleted_topics: u64,
    pub restart_max: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let findings = &self.findings;
        write!(
            formatter,
            "crash [{}] seed={:#x}: {} cycles in {:.1} s; acknowledged {} batches ({} messages); {} sends \
             unknown at the kill ({} present, {} absent); consumer read {} messages, {} offset stores \
             acknowledged, {} offsets behind the last acknowledged store; {} kills during a start ({} before \
             it listened); slowest \
             restart {} ms; recovery: {}; loss of acknowledged messages: {} in all, at most {} in one cycle, \
             window {} ms; {} messages stored at the end (and {} in {} topics deleted on the way)",
            self.durability,
            self.seed,
            self.cycles,
            self.elapsed.as_secs_f64(),
            self.acked_batches,
            self.acked_messages,
            self.unknown_batches,
            findings.unknown_present,
            findings.unknown_absent,
            self.consumed_messages,
            self.stores_acked,
            findings.offset_regressions,
            self.early_kills,
            self.early_kills_before_ready,
            self.restart_max.as_millis(),
            self.recoveries,
            findings.acked_lost,
            self.acked_lost_cycle_max,
            findings.loss_window.as_millis(),
            self.messages_at_end,
            self.messages_in_deleted_topics,
            self.topics,
        )
    }
}
