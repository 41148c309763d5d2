//! Rows of a Snowflake SQL API result set, keeping only the columns asked
//! for. `SHOW USERS` has about thirty columns and the monitor reads nine:
//! at tens of thousands of users, holding every cell would cost tens of
//! megabytes, so unwanted cells are skipped while the JSON is parsed.

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, SeqAccess, Visitor};

/// One result row: the wanted columns, by name.
#[derive(Debug, Clone)]
pub struct Row {
    names: Arc<[&'static str]>,
    values: Vec<Option<String>>,
}

impl Row {
    pub fn new(names: Arc<[&'static str]>, values: Vec<Option<String>>) -> Self {
        Row { names, values }
    }

    /// The cell of `column`; `None` when it is null or the result set has
    /// no such column.
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = self.names.iter().position(|n| *n == column)?;
        self.values.get(i)?.as_deref()
    }
}

/// Where each column of the result set goes among the wanted ones.
#[derive(Debug, Clone)]
pub struct Layout {
    names: Arc<[&'static str]>,
    /// Per result-set column: its slot among `names`, if wanted.
    slots: Vec<Option<usize>>,
}

impl Layout {
    /// `columns` are the result set's column names (`rowType`), compared
    /// without regard to case.
    pub fn new(wanted: &[&'static str], columns: &[String]) -> Self {
        let slots = columns
            .iter()
            .map(|c| wanted.iter().position(|w| w.eq_ignore_ascii_case(c)))
            .collect();
        Layout {
            names: wanted.into(),
            slots,
        }
    }

    /// Parses a `data` array (rows of strings or nulls) into rows.
    pub fn parse(&self, data: &str) -> Result<Vec<Row>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(data);
        let rows = RowsSeed(self).deserialize(&mut de)?;
        de.end()?;
        Ok(rows)
    }
}

struct RowsSeed<'a>(&'a Layout);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<Row>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<Row>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element_seed(RowSeed {
            layout: self.0,
            index: rows.len(),
        })? {
            rows.push(row);
        }
        Ok(rows)
    }
}

struct RowSeed<'a> {
    layout: &'a Layout,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Row;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row: an array of strings or nulls")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let layout = self.layout;
        let mut values = vec![None; layout.names.len()];
        let mut count = 0;
        loop {
            let slot = layout.slots.get(count).copied().flatten();
            let more = match slot {
                Some(s) => seq
                    .next_element::<Option<String>>()?
                    .map(|v| values[s] = v)
                    .is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                break;
            }
            count += 1;
        }
        if count != layout.slots.len() {
            return Err(A::Error::custom(format!(
                "row {} has {count} values for {} columns",
                self.index,
                layout.slots.len()
            )));
        }
        Ok(Row::new(layout.names.clone(), values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let columns: Vec<String> = ["NAME", "created_on", "has_mfa", "comment"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        Layout::new(&["name", "has_mfa", "type"], &columns)
    }

    #[test]
    fn rows_keep_only_the_wanted_columns_found_by_name_in_any_case() {
        let rows = layout()
            .parse(r#"[["ALICE","1.0","true","x"],["BOB",null,"false",null]]"#)
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get("name"), Some("ALICE"));
        assert_eq!(rows[0].get("has_mfa"), Some("true"));
        assert_eq!(rows[1].get("has_mfa"), Some("false"));
        assert_eq!(rows[0].get("created_on"), None);
        assert_eq!(rows[0].get("type"), None, "absent from the result set");
    }

    #[test]
    fn a_row_with_too_few_or_too_many_values_is_an_error_naming_it() {
        let short = layout().parse(r#"[["A","1","true","x"],["B","1"]]"#);
        assert!(short
            .unwrap_err()
            .to_string()
            .contains("row 1 has 2 values for 4 columns"));
        let long = layout().parse(r#"[["A","1","true","x","extra"]]"#);
        assert!(long
            .unwrap_err()
            .to_string()
            .contains("row 0 has 5 values for 4 columns"));
    }

    #[test]
    fn a_cell_that_is_not_a_string_or_null_is_an_error() {
        assert!(layout().parse(r#"[["A","1",true,"x"]]"#).is_err());
        assert!(layout().parse(r#"{"not":"rows"}"#).is_err());
    }
}
