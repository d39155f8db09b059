//! The expected content of every partition, offset by offset, and the check of what a
//! restarted server serves against it and against the sends of the cycle that was killed.
//!
//! After each restart, per partition:
//! - the served offsets are dense from 0 (the poll already verified every record's checksums);
//! - what earlier cycles confirmed is served unchanged at the same offsets;
//! - after that comes only what this cycle sent, each batch whole and contiguous, acknowledged
//!   batches at the base offset the server acknowledged, unknown ones (in flight at the kill)
//!   present whole or absent;
//! - no acknowledged batch is missing (under `interval`, a missing tail is counted as loss);
//! - the stored consumer offset is at or after the last acknowledged store, at most the last
//!   store sent, and names a served message.
//!
//! What was served then becomes the expected content for the next cycle.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::load::{Sent, Stores};
use crate::common::wire::ServedMessage;

/// What one message must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub id: u128,
    pub payload_hash: u64,
    pub payload_len: u32,
}

impl Expected {
    fn matches(&self, served: &ServedMessage) -> bool {
        (self.id, self.payload_hash, self.payload_len) == (served.id, served.payload_hash, served.payload_len)
    }
}

/// Whether losing acknowledged messages fails the test or is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Forbidden,
    Measured,
}

/// What one partition holds, as far as the test knows.
#[derive(Debug, Default)]
pub struct PartitionLedger {
    /// Message at each offset, from 0.
    pub log: Vec<Expected>,
    /// The consumer's stored offset after the last restart, and this cycle's stores.
    pub stored: Option<u64>,
    pub stores: Stores,
}

/// What reconciling one partition found, beyond failures.
#[derive(Debug, Default, Clone, Copy)]
pub struct Findings {
    pub unknown_present: u64,
    pub unknown_absent: u64,
    /// Acknowledged messages not served after the restart (only under [`Loss::Measured`]).
    pub acked_lost: u64,
    /// From the acknowledgement of the oldest lost message to the kill.
    pub loss_window: Duration,
    /// Stored consumer offsets found before the last acknowledged store, or past the end of
    /// the partition (only under [`Loss::Measured`]).
    pub offset_regressions: u64,
}

impl Findings {
    pub fn add(&mut self, other: Findings) {
        self.unknown_present += other.unknown_present;
        self.unknown_absent += other.unknown_absent;
        self.acked_lost += other.acked_lost;
        self.loss_window = self.loss_window.max(other.loss_window);
        self.offset_regressions += other.offset_regressions;
    }
}

impl PartitionLedger {
    /// Checks `served` (the whole partition, in order) against the ledger and this cycle's
    /// `sends` to the partition, then adopts it. An `Err` says what is wrong.
    pub fn reconcile(
        &mut self,
        served: &[ServedMessage],
        sends: &[&Sent],
        loss: Loss,
        killed_at: Instant,
    ) -> Result<Findings, String> {
        let mut findings = Findings::default();
        if let Some((index, message)) = served.iter().enumerate().find(|(index, m)| m.offset != *index as u64) {
            return Err(format!("offsets are not dense: offset {} served at position {index}", message.offset));
        }
        let kept = served.len().min(self.log.len());
        if let Some(offset) = (0..kept).find(|&offset| !self.log[offset].matches(&served[offset])) {
            return Err(format!(
                "offset {offset} changed: was {:?}, now serves {:?}",
                self.log[offset], served[offset]
            ));
        }
        if served.len() < self.log.len() {
            let lost = (self.log.len() - served.len()) as u64;
            if loss == Loss::Forbidden {
                return Err(format!("{lost} confirmed messages from offset {} are gone", served.len()));
            }
            findings.acked_lost += lost;
        }
        let found = match_new_messages(&served[kept..], kept as u64, sends)?;
        for (send, found) in sends.iter().zip(&found) {
            match (send.base_offset, found) {
                (Some(base), Some(at)) if base != *at => {
                    return Err(format!("batch acknowledged at offset {base} is served at offset {at}"));
                }
                (Some(_), Some(_)) => {}
                (None, Some(_)) => findings.unknown_present += 1,
                (None, None) => findings.unknown_absent += 1,
                (Some(base), None) if base < served.len() as u64 => {
                    return Err(format!("batch acknowledged at offset {base} is not served; other messages are"));
                }
                (Some(base), None) => {
                    if loss == Loss::Forbidden {
                        return Err(format!(
                            "batch of {} messages acknowledged at offset {base} is lost (the partition ends at {})",
                            send.messages.len(),
                            served.len()
                        ));
                    }
                    findings.acked_lost += send.messages.len() as u64;
                    let acked_at = send.acked_at.expect("acknowledged sends have a time");
                    findings.loss_window = findings.loss_window.max(killed_at.saturating_duration_since(acked_at));
                }
            }
        }
        self.log.truncate(kept);
        self.log.extend(served[kept..].iter().map(|m| Expected {
            id: m.id,
            payload_hash: m.payload_hash,
            payload_len: m.payload_len,
        }));
        Ok(findings)
    }

    /// Checks the consumer offset the restarted server holds against the stores made, then
    /// adopts it.
    pub fn reconcile_offset(&mut self, stored: Option<u64>, loss: Loss) -> Result<Findings, String> {
        let mut findings = Findings::default();
        let floor = self.stores.acked.or(self.stored);
        let ceiling = self.stores.issued.or(self.stored);
        match (stored, floor, ceiling) {
            (None, None, None) => {}
            (None, _, _) => return Err(format!("stored consumer offset is gone (was {floor:?})")),
            (Some(value), _, None) => return Err(format!("consumer offset {value} was never stored")),
            (Some(value), _, Some(ceiling)) if value > ceiling => {
                return Err(format!("consumer offset {value} is past the last store sent ({ceiling})"));
            }
            (Some(value), Some(floor), _) if value < floor => {
                if loss == Loss::Forbidden {
                    return Err(format!("consumer offset {value} is before the last acknowledged store ({floor})"));
                }
                findings.offset_regressions += 1;
            }
            (Some(_), _, _) => {}
        }
        if let Some(value) = stored.filter(|&value| value >= self.log.len() as u64) {
            if loss == Loss::Forbidden {
                return Err(format!("consumer offset {value} is past the partition's end ({})", self.log.len()));
            }
            findings.offset_regressions += 1;
        }
        self.stored = stored;
        self.stores = Stores::default();
        Ok(findings)
    }
}

/// Walks the messages served after the confirmed prefix (the first at `offset_first`): each
/// must start a batch of `sends`, and the batch must follow whole. Returns, per send, the
/// offset it was found at.
fn match_new_messages(
    served: &[ServedMessage],
    offset_first: u64,
    sends: &[&Sent],
) -> Result<Vec<Option<u64>>, String> {
    let first_ids: HashMap<u128, usize> =
        sends.iter().enumerate().map(|(index, send)| (send.messages[0].id, index)).collect();
    let mut found = vec![None; sends.len()];
    let mut position = 0;
    while position < served.len() {
        let offset = offset_first + position as u64;
        let message = &served[position];
        let Some(&index) = first_ids.get(&message.id) else {
            return Err(format!("offset {offset} serves message {:#x}, which starts no batch sent", message.id));
        };
        if found[index].is_some() {
            return Err(format!("batch starting with {:#x} is served twice", message.id));
        }
        let batch = &sends[index].messages;
        let Some(slice) = served.get(position..position + batch.len()) else {
            return Err(format!(
                "batch at offset {offset} is cut short: {} of {}",
                served.len() - position,
                batch.len()
            ));
        };
        if let Some(bad) = batch.iter().zip(slice).position(|(expected, served)| !expected.matches(served)) {
            return Err(format!(
                "batch at offset {offset}: message {bad} should be {:?}, is {:?}",
                batch[bad], slice[bad]
            ));
        }
        found[index] = Some(offset);
        position += batch.len();
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id_first: u128, count: u32, base_offset: Option<u64>) -> Sent {
        let messages = (0..count)
            .map(|i| Expected { id: id_first + u128::from(i), payload_hash: u64::from(i) * 7, payload_len: 10 })
            .collect();
        Sent { partition: 0, messages, base_offset, acked_at: base_offset.map(|_| Instant::now()) }
    }

    fn serve(sends: &[&Sent]) -> Vec<ServedMessage> {
        sends
            .iter()
            .flat_map(|s| s.messages.iter())
            .enumerate()
            .map(|(offset, m)| ServedMessage {
                offset: offset as u64,
                id: m.id,
                payload_hash: m.payload_hash,
                payload_len: m.payload_len,
            })
            .collect()
    }

    #[test]
    fn accepts_acked_batches_and_whole_unknown_ones() {
        let (a, b, c) = (batch(100, 3, Some(0)), batch(200, 2, None), batch(300, 1, Some(5)));
        let mut ledger = PartitionLedger::default();
        let findings = ledger.reconcile(&serve(&[&a, &b, &c]), &[&a, &b, &c], Loss::Forbidden, Instant::now()).unwrap();
        assert_eq!((findings.unknown_present, findings.unknown_absent), (1, 0));
        assert_eq!(ledger.log.len(), 6);
    }

    #[test]
    fn refuses_a_lost_acked_batch_a_torn_batch_and_a_changed_offset() {
        let (a, b) = (batch(100, 3, Some(0)), batch(200, 2, Some(3)));
        let mut ledger = PartitionLedger::default();
        assert!(ledger.reconcile(&serve(&[&a]), &[&a, &b], Loss::Forbidden, Instant::now()).is_err());
        let measured = ledger.reconcile(&serve(&[&a]), &[&a, &b], Loss::Measured, Instant::now()).unwrap();
        assert_eq!(measured.acked_lost, 2);
        let mut torn = serve(&[&a, &b]);
        torn.pop();
        assert!(PartitionLedger::default().reconcile(&torn, &[&a, &b], Loss::Measured, Instant::now()).is_err());
        let mut changed = serve(&[&a]);
        changed[1].payload_hash ^= 1;
        assert!(ledger.reconcile(&changed, &[], Loss::Measured, Instant::now()).is_err());
    }

    #[test]
    fn consumer_offset_stays_between_acked_and_issued_stores() {
        let mut ledger = PartitionLedger {
            log: vec![Expected { id: 1, payload_hash: 0, payload_len: 1 }; 10],
            ..Default::default()
        };
        ledger.stores = Stores { acked: Some(4), issued: Some(6) };
        assert!(ledger.reconcile_offset(Some(3), Loss::Forbidden).is_err());
        assert!(ledger.reconcile_offset(Some(7), Loss::Forbidden).is_err());
        ledger.reconcile_offset(Some(6), Loss::Forbidden).unwrap();
        assert!(ledger.reconcile_offset(None, Loss::Forbidden).is_err());
        ledger.reconcile_offset(Some(6), Loss::Forbidden).unwrap();
    }
}
