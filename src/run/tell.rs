//! A word to the person (`MFA_NOTIFY_PEOPLE=true`, ARCHITECTURE.md §3,
//! people): the bookkeeping of who is told what.
//!
//! Why pseudo-channels in the outbox: a person's message must be kept
//! exactly as a team channel's is (pending until accepted, never twice, not
//! lost in a crash), and the outbox already does that per channel, with
//! `OutboxEntry.routes` giving a channel only some notices. So each holder
//! of a change that deserves a word gets, in the entry committed with the
//! state, one channel per medium, `person:MEDIUM:PRINCIPAL_ID` (e.g.
//! `person:slack:aws:111122223333/alice`), routed to that one notice. It is
//! acknowledged when the medium accepted the message, or gave a final
//! answer (Slack's `users_not_found`); any other failure keeps only that
//! channel pending. The channel is named by the principal id, not the
//! address, so no address is logged with a channel name or stored twice;
//! the address is looked up again at delivery (the people file, else what
//! the source gave this pass).
//!
//! A change whose holder had no known address at commit is recorded under
//! the route `person:untold` (a route with no channel: nothing is pending
//! for it) and the team message says "could not be told" beside it; so
//! does a holder Slack does not know when no e-mail went to them either.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{error, info};

use super::deadline::FINISH_MARGIN;
use super::{ChannelOutcome, ChannelResult, Pass};
use crate::domain::people::link;
use crate::domain::{Change, Notice};
use crate::notifiers::person::{deserves_word, person_message};
use crate::notifiers::teller::{Medium, Told};
use crate::state::OutboxEntry;

const PREFIX: &str = "person:";
/// The route of the notices whose holder could not be told at commit.
pub(super) const UNTOLD: &str = "person:untold";
/// What the team message says beside such a change.
pub(super) const UNTOLD_TEXT: &str = "could not be told: no address known for the account holder";
/// The same, for a change the team already had.
pub(super) const UNTOLD_LATE_TEXT: &str =
    "sent before; its holder could not be told (no address, or Slack knows no one at it)";

/// The channel telling `principal`'s holder by `medium`.
pub(super) fn channel(medium: Medium, principal: &str) -> String {
    format!("{PREFIX}{}:{principal}", medium.as_str())
}

/// The medium and principal id of a person channel.
pub(super) fn parse(channel: &str) -> Option<(Medium, &str)> {
    let (medium, principal) = channel.strip_prefix(PREFIX)?.split_once(':')?;
    Some((Medium::parse(medium)?, principal))
}

/// A notice of an entry whose holder could not be told: (entry id, index).
pub(super) type Untold = BTreeSet<(String, usize)>;

impl Pass<'_> {
    /// Whether pending alerts for `channel` are delivered by this pass: a
    /// team channel configured, or a person channel whose medium is.
    pub(super) fn delivers(&self, channel: &str) -> bool {
        match parse(channel) {
            Some((medium, _)) => self.teller.is_some_and(|t| t.has(medium)),
            None => self.notifiers.iter().any(|n| n.channel() == channel),
        }
    }

    /// Adds to `entry` a person channel per medium for each notice whose
    /// holder deserves a word and has an address (the people file, else
    /// `addresses`, the source's); the rest go under [`UNTOLD`]. Off
    /// (`MFA_NOTIFY_PEOPLE` unset): the entry is left as it was.
    pub(super) fn route_people(
        &self,
        entry: &mut OutboxEntry,
        addresses: &BTreeMap<String, String>,
    ) {
        let Some(teller) = self.teller else { return };
        for (i, notice) in entry.notices.iter().enumerate() {
            let Notice::Change(c) = notice else { continue };
            let Some(id) = c.principal_id() else { continue };
            if !deserves_word(c) || self.exemptions.contains(&id) {
                continue;
            }
            let id = id.to_string();
            let known = link(self.people, &id, addresses.get(&id).map(String::as_str)).is_some();
            if !known {
                entry.routes.entry(UNTOLD.to_owned()).or_default().push(i);
                continue;
            }
            for medium in teller.media() {
                let ch = channel(medium, &id);
                entry.channels.insert(ch.clone());
                entry.routes.entry(ch).or_default().push(i);
            }
        }
    }

    /// Tells each person what is pending for them, acknowledging what was
    /// accepted or finally refused. Returns one outcome per medium tried and
    /// the notices whose holder could not be told this pass; takes the
    /// channels done off `left`.
    pub(super) async fn tell_people(
        &self,
        pending: &[OutboxEntry],
        left: &mut [OutboxEntry],
        addresses: &BTreeMap<String, String>,
    ) -> (Vec<ChannelOutcome>, Untold, Vec<OutboxEntry>) {
        let mut untold = Untold::new();
        // Entries stored this pass to tell the team of a holder found
        // untellable after the team already had the change.
        let mut late = Vec::new();
        let Some(teller) = self.teller else {
            return (Vec::new(), untold, late);
        };
        // Per medium: told, failed, the last error.
        let mut tally: BTreeMap<Medium, (usize, usize, Option<String>)> = BTreeMap::new();
        'entries: for (entry, after) in pending.iter().zip(left.iter_mut()) {
            for ch in &entry.channels {
                let Some((medium, id)) = parse(ch) else {
                    continue;
                };
                if !teller.has(medium) {
                    continue;
                }
                if self.deadline.remaining() < FINISH_MARGIN {
                    error!("the pass deadline came before every account holder was told; the rest go out next pass");
                    break 'entries;
                }
                let index = entry.routes.get(ch).and_then(|r| r.first().copied());
                let change = index.and_then(|i| match entry.notices.get(i) {
                    Some(Notice::Change(c)) => Some((i, c)),
                    _ => None,
                });
                let address = link(self.people, id, addresses.get(id).map(String::as_str));
                let told = match (change, address) {
                    (None, _) => Told::Unknown,
                    (Some((i, _)), None) => {
                        untold.insert((entry.id.clone(), i));
                        Told::Unknown
                    }
                    (Some((i, c)), Some(address)) => {
                        let told = teller.tell(medium, address, &person_message(c), id).await;
                        // Slack does not know them: still told if an e-mail
                        // went (or goes) to them.
                        let by_email = channel(Medium::Email, id);
                        if told == Told::Unknown && !entry.routes.contains_key(&by_email) {
                            untold.insert((entry.id.clone(), i));
                        }
                        told
                    }
                };
                let mut told = told;
                if let Some((i, c)) = change {
                    if told == Told::Unknown
                        && untold.contains(&(entry.id.clone(), i))
                        && !team_still_pending(entry, i)
                    {
                        // Stored before this person channel is let go, so a
                        // crash between the two asks again rather than
                        // losing the line.
                        match self.tell_team_late(entry, i, c).await {
                            Ok(e) => late.push(e),
                            Err(e) => told = Told::Failed(e),
                        }
                    }
                }
                let t = tally.entry(medium).or_default();
                match told {
                    Told::Yes | Told::Unknown => {
                        if told == Told::Yes {
                            t.0 += 1;
                            info!(
                                principal = id,
                                medium = medium.as_str(),
                                "account holder told"
                            );
                        }
                        match self.store.acknowledge(&entry.id, ch).await {
                            Ok(()) => {
                                after.channels.remove(ch);
                            }
                            Err(e) => {
                                error!(principal = id, medium = medium.as_str(), error = %e, "the account holder's message could not be marked delivered");
                                t.2 = Some(e.to_string());
                            }
                        }
                    }
                    Told::Failed(e) => {
                        error!(principal = id, medium = medium.as_str(), error = %e, "account holder not told; kept pending for the next pass");
                        t.1 += 1;
                        t.2 = Some(format!("{id}: {e}"));
                    }
                }
            }
        }
        let outcomes = tally
            .into_iter()
            .map(|(medium, (told, failed, error))| ChannelOutcome {
                channel: format!("person-{}", medium.as_str()),
                result: if failed > 0 {
                    ChannelResult::Failed
                } else if told > 0 {
                    ChannelResult::Sent
                } else {
                    ChannelResult::NothingToSend
                },
                notices: told + failed,
                error,
            })
            .collect();
        (outcomes, untold, late)
    }

    /// An outbox entry, pending for the team channels, repeating change
    /// `i` of `entry` with "could not be told": its holder turned out
    /// untellable (Slack knows no one at the address) after every team
    /// channel had already accepted the change.
    async fn tell_team_late(
        &self,
        entry: &OutboxEntry,
        i: usize,
        change: &Change,
    ) -> Result<OutboxEntry, String> {
        let mut c = change.clone();
        c.detail = Some(match c.detail.take() {
            Some(d) => format!("{d}; {UNTOLD_LATE_TEXT}"),
            None => UNTOLD_LATE_TEXT.to_owned(),
        });
        let late = self.outbox_entry(
            format!("{}#untold/{i}", entry.id),
            chrono::Utc::now(),
            &[Notice::Change(c)],
        );
        if late.channels.is_empty() {
            return Ok(late);
        }
        self.store
            .announce_exemptions(&[], Some(late.clone()))
            .await
            .map_err(|e| {
                error!(entry = %entry.id, error = %e, "the team could not be told that an account holder was not told; asked again next pass");
                format!("the team's line could not be stored: {e}")
            })?;
        Ok(late)
    }
}

/// Whether some team channel has not yet accepted notice `i` of `entry`
/// (then this pass's team message says "could not be told" itself).
fn team_still_pending(entry: &OutboxEntry, i: usize) -> bool {
    entry
        .channels
        .iter()
        .filter(|c| parse(c).is_none())
        .any(|c| entry.routes.get(c).is_none_or(|r| r.contains(&i)))
}

/// The notices of `entry` for team channel `channel`, each whose holder
/// could not be told saying so.
pub(super) fn team_notices(entry: &OutboxEntry, channel: &str, untold: &Untold) -> Vec<Notice> {
    let indices: Vec<usize> = match entry.routes.get(channel) {
        Some(r) => r.clone(),
        None => (0..entry.notices.len()).collect(),
    };
    let at_commit = entry.routes.get(UNTOLD);
    indices
        .into_iter()
        .filter_map(|i| {
            let mut n = entry.notices.get(i)?.clone();
            let said = at_commit.is_some_and(|r| r.contains(&i))
                || untold.contains(&(entry.id.clone(), i));
            if let (true, Notice::Change(c)) = (said, &mut n) {
                c.detail = Some(match c.detail.take() {
                    Some(d) => format!("{d}; {UNTOLD_TEXT}"),
                    None => UNTOLD_TEXT.to_owned(),
                });
            }
            Some(n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_channel_names_its_medium_and_principal_and_reads_back() {
        let ch = channel(Medium::Slack, "aws:111122223333/alice");
        assert_eq!(ch, "person:slack:aws:111122223333/alice");
        assert_eq!(parse(&ch), Some((Medium::Slack, "aws:111122223333/alice")));
        assert_eq!(
            parse("person:email:github:acme/bob"),
            Some((Medium::Email, "github:acme/bob"))
        );
        assert_eq!(parse("email"), None);
        assert_eq!(parse(UNTOLD), None);
        assert_eq!(parse("person:fax:github:acme/bob"), None);
    }

    fn lost(name: &str) -> Notice {
        use crate::domain::{Change, ChangeKind, Severity, Source, TargetKey};
        Notice::Change(Change {
            target: TargetKey::new(Source::Github, "acme"),
            principal: Some(name.into()),
            kind: ChangeKind::MfaDisabled,
            severity: Severity::High,
            previous: None,
            current: None,
            admin: false,
            detail: None,
            detected_at: chrono::Utc::now(),
        })
    }

    fn detail(n: &Notice) -> Option<&str> {
        match n {
            Notice::Change(c) => c.detail.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn the_team_message_says_who_could_not_be_told_at_commit_or_this_pass() {
        let entry = OutboxEntry {
            id: "run-1/github:acme".into(),
            created_at: chrono::Utc::now(),
            channels: ["email".to_owned(), channel(Medium::Slack, "github:acme/b")]
                .into_iter()
                .collect(),
            notices: vec![lost("a"), lost("b"), lost("c")],
            routes: [
                (UNTOLD.to_owned(), vec![0]),
                (channel(Medium::Slack, "github:acme/b"), vec![1]),
            ]
            .into_iter()
            .collect(),
        };
        let this_pass: Untold = [(entry.id.clone(), 1)].into_iter().collect();
        let shown = team_notices(&entry, "email", &this_pass);
        assert_eq!(
            shown.len(),
            3,
            "a team channel not routed gets every notice"
        );
        assert_eq!(detail(&shown[0]), Some(UNTOLD_TEXT), "no address at commit");
        assert_eq!(detail(&shown[1]), Some(UNTOLD_TEXT), "Slack did not know b");
        assert_eq!(detail(&shown[2]), None);
        // The stored notices are not changed.
        assert_eq!(detail(&entry.notices[0]), None);
        let none = team_notices(&entry, "email", &Untold::new());
        assert_eq!(detail(&none[1]), None);
    }
}
