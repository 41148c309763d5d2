//! Small text rules shared by the configuration and the domain.

/// The non-empty, trimmed items of a comma-separated list.
pub fn comma_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_list_drops_blanks_and_surrounding_spaces() {
        assert_eq!(
            comma_list(" a, ,b ,,c").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(comma_list("").count(), 0);
    }
}
