//! `report --by person` for the terminal: each person with their accounts
//! in every source, then the accounts linked to nobody.

use std::fmt::Write;

use crate::domain::people::People;
use crate::domain::report::Row;

fn account_line(out: &mut String, row: &Row, width: usize) {
    let mut notes = Vec::new();
    if row.admin {
        notes.push("admin".to_owned());
    }
    if row.exempt {
        notes.push("exempt".to_owned());
    }
    if let Some(days) = row.days_without_mfa {
        notes.push(format!("{days} day(s) without MFA"));
    }
    let _ = writeln!(
        out,
        "  {:<width$}  {:<25}  {}",
        row.principal,
        row.status_text(),
        notes.join(", ")
    );
}

pub fn people_table(p: &People) -> String {
    let width = p
        .people
        .iter()
        .flat_map(|person| person.accounts.iter())
        .chain(&p.unlinked)
        .map(|r| r.principal.chars().count())
        .max()
        .unwrap_or(9);
    let mut out = String::new();
    let lacking = p.people.iter().filter(|x| x.lacking_mfa > 0).count();
    let _ = writeln!(
        out,
        "{} person(s), {lacking} with an account lacking MFA; {} account(s) linked to nobody",
        p.people.len(),
        p.unlinked.len()
    );
    for person in &p.people {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}: {} account(s){}",
            person.email,
            person.accounts.len(),
            if person.lacking_mfa > 0 {
                format!(", {} lacking MFA", person.lacking_mfa)
            } else {
                String::new()
            }
        );
        for row in &person.accounts {
            account_line(&mut out, row, width);
        }
    }
    if !p.unlinked.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Linked to nobody (add them to MFA_PEOPLE_FILE):");
        for row in &p.unlinked {
            account_line(&mut out, row, width);
        }
    }
    out
}
