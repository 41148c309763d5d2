//! Step 6 of a pass: each channel sent one message with everything
//! pending for it, and acknowledged only once it accepted it.

use std::collections::BTreeMap;

use chrono::Utc;
use tracing::{error, info, warn};

use super::deadline::FINISH_MARGIN;
use super::{ChannelOutcome, ChannelResult, Pass, PendingAlerts};
use crate::domain::{Change, Notice};
use crate::notifiers::digest;
use crate::state::OutboxEntry;

/// How long alerts wait for a channel that is no longer configured.
pub const ORPHAN_DAYS: i64 = 7;

impl Pass<'_> {
    /// Sends each channel everything pending for it, plus `unsaved`: alerts
    /// that could not be stored pending and so go out now or never. Also
    /// returns what stays pending afterwards, for the metrics, derived from
    /// the one read of the outbox delivery made. `addresses` are the ones
    /// the sources gave this pass, by principal id.
    pub(super) async fn deliver(
        &self,
        unsaved: &[Change],
        warnings: &[String],
        addresses: &BTreeMap<String, String>,
    ) -> (Vec<ChannelOutcome>, Option<PendingAlerts>) {
        let fail_all = |text: String, notices: usize| {
            self.notifiers
                .iter()
                .map(|n| ChannelOutcome {
                    channel: n.channel().to_owned(),
                    result: ChannelResult::Failed,
                    notices,
                    error: Some(text.clone()),
                })
                .collect::<Vec<_>>()
        };
        if self.deadline.remaining() < FINISH_MARGIN {
            error!("the pass deadline came before delivery; pending alerts go out next pass");
            let outcomes = fail_all(
                "not attempted: the pass deadline came first; alerts stay pending for the next pass"
                    .into(),
                unsaved.len(),
            );
            return (outcomes, self.count_pending().await);
        }
        let pending = match self.store.pending().await {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "pending alerts could not be read");
                return (fail_all(e.to_string(), 0), self.count_pending().await);
            }
        };
        // Alerts pending for a channel no longer configured are kept for a
        // while (the channel may come back with the next deploy), warned
        // about, then dropped with an error line: never kept forever, never
        // dropped silently.
        let orphan_cutoff = Utc::now() - chrono::Duration::days(ORPHAN_DAYS);
        // What is still pending once this pass is done: channels are taken
        // off `left` as they accept (or their orphaned alerts are dropped).
        let mut left = pending.clone();
        for (entry, after) in pending.iter().zip(left.iter_mut()) {
            for ch in entry.channels.iter().filter(|c| !self.delivers(c)) {
                if entry.created_at < orphan_cutoff {
                    error!(entry = %entry.id, channel = %ch, notices = entry.notices.len(), "dropping alerts pending for {ORPHAN_DAYS} days for a channel that is no longer configured");
                    match self.store.acknowledge(&entry.id, ch).await {
                        Ok(()) => {
                            after.channels.remove(ch);
                        }
                        Err(e) => {
                            warn!(entry = %entry.id, error = %e, "orphaned alerts could not be dropped; tried again next pass");
                        }
                    }
                } else {
                    warn!(entry = %entry.id, channel = %ch, "alerts pending for a channel that is no longer configured; dropped after {ORPHAN_DAYS} days");
                }
            }
        }
        let delayed_before = Utc::now()
            - chrono::Duration::from_std(self.delayed_after).unwrap_or(chrono::Duration::MAX);
        // The holders first, so the team message can say who could not be
        // told this pass.
        let (mut outcomes, untold, late) = self.tell_people(&pending, &mut left, addresses).await;
        // Delivered with the rest, as if read from the outbox.
        let mut pending = pending;
        pending.extend(late.iter().cloned());
        left.extend(late);
        for notifier in self.notifiers {
            let channel = notifier.channel();
            let mine: Vec<(usize, &OutboxEntry)> = pending
                .iter()
                .enumerate()
                .filter(|(_, e)| e.channels.contains(channel))
                .collect();
            // Each entry's notices routed to this channel (all of them
            // without a routing file); the unsaved ones by the same routes.
            let mut notices: Vec<Notice> = mine
                .iter()
                .flat_map(|(_, e)| super::tell::team_notices(e, channel, &untold))
                .collect();
            notices.extend(
                unsaved
                    .iter()
                    .cloned()
                    .map(Notice::Change)
                    .filter(|n| self.router.channels(n).contains(channel)),
            );
            self.name_people(&mut notices, addresses);
            let Some(mut message) = digest::digest(&notices, warnings) else {
                outcomes.push(ChannelOutcome {
                    channel: channel.to_owned(),
                    result: ChannelResult::NothingToSend,
                    notices: 0,
                    error: None,
                });
                continue;
            };
            message.mark_delayed(delayed_before);
            match notifier.send(&message).await {
                Ok(()) => {
                    info!(channel, notices = notices.len(), "alert sent");
                    let mut ack_error = None;
                    let entries: Vec<&OutboxEntry> = mine.iter().map(|(_, e)| *e).collect();
                    let acks = self.store.acknowledge_each(&entries, channel).await;
                    for ((i, entry), ack) in mine.iter().zip(acks) {
                        match ack {
                            Ok(()) => {
                                left[*i].channels.remove(channel);
                            }
                            Err(e) => {
                                // The alert went out; at worst it is repeated.
                                error!(channel, entry = %entry.id, error = %e, "sent alert could not be marked delivered");
                                ack_error = Some(e.to_string());
                            }
                        }
                    }
                    outcomes.push(ChannelOutcome {
                        channel: channel.to_owned(),
                        result: ChannelResult::Sent,
                        notices: notices.len(),
                        error: ack_error,
                    });
                }
                Err(e) => {
                    error!(channel, error = %e, "alert not delivered; kept pending for the next pass");
                    outcomes.push(ChannelOutcome {
                        channel: channel.to_owned(),
                        result: ChannelResult::Failed,
                        notices: notices.len(),
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        left.retain(|e| !e.channels.is_empty());
        (outcomes, Some(self.pending_alerts(&left)))
    }

    /// Names the person holding each account when the people file knows
    /// them, else when the source gave an address this pass (`addresses`),
    /// in the message only (the stored notice is left as it was). A notice
    /// pending from an earlier pass whose target was not read this time
    /// names its holder only through the people file.
    fn name_people(&self, notices: &mut [Notice], addresses: &BTreeMap<String, String>) {
        if self.people.is_empty() && addresses.is_empty() {
            return;
        }
        for notice in notices {
            let Notice::Change(c) = notice else { continue };
            let Some(id) = c.principal_id().map(|id| id.to_string()) else {
                continue;
            };
            let source = addresses.get(&id).map(String::as_str);
            let Some(email) = crate::domain::people::link(self.people, &id, source) else {
                continue;
            };
            c.detail = Some(match c.detail.take() {
                Some(d) => format!("{d}; held by {email}"),
                None => format!("held by {email}"),
            });
        }
    }

    /// What is pending now, read from the store: for a pass whose delivery
    /// did not get as far as reading the outbox.
    async fn count_pending(&self) -> Option<PendingAlerts> {
        match self.store.pending().await {
            Ok(p) => Some(self.pending_alerts(&p)),
            Err(e) => {
                warn!(error = %e, "pending alerts could not be counted");
                None
            }
        }
    }

    /// The metric an operator is alarmed on when a channel keeps refusing:
    /// alerts pending for a configured channel; those only for a channel no
    /// longer configured are counted apart.
    fn pending_alerts(&self, pending: &[OutboxEntry]) -> PendingAlerts {
        let now = Utc::now();
        let mine: Vec<&OutboxEntry> = pending
            .iter()
            .filter(|e| e.channels.iter().any(|c| self.delivers(c)))
            .collect();
        let orphaned = pending
            .iter()
            .filter(|e| e.channels.iter().any(|c| !self.delivers(c)))
            .map(|e| e.notices.len())
            .sum();
        PendingAlerts {
            orphaned,
            alerts: mine.iter().map(|e| e.notices.len()).sum(),
            oldest_minutes: mine
                .iter()
                .map(|e| (now - e.created_at).num_minutes().max(0) as u64)
                .max()
                .unwrap_or(0),
        }
    }
}
