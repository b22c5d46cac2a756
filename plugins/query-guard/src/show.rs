//! Recognising `SHOW <name>` in the query text.
//!
//! pgDog's summary says a statement is a SHOW but not what it shows, so the name comes
//! from the text. Only a text that is exactly one `SHOW name` counts (comments, case and
//! trailing semicolons aside): in `SHOW x; SELECT 1` the plugin's answer would replace
//! both statements, so such a text is left to PostgreSQL.

/// The lower-case name shown by `sql`, if the whole text is one `SHOW name`.
pub fn name(sql: &str) -> Option<String> {
    let text = skip_comments(sql)
        .trim_end()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let keyword = text.get(..4)?;
    if !keyword.eq_ignore_ascii_case("show") {
        return None;
    }
    let rest = &text[4..];
    let name = rest.trim_start();
    if name.len() == rest.len() {
        // `SHOWx`: no space after the keyword.
        return None;
    }
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    is_name.then(|| name.to_ascii_lowercase())
}

/// The text after any leading whitespace, `/* … */` and `-- …` comments.
fn skip_comments(sql: &str) -> &str {
    let mut text = sql.trim_start();
    loop {
        if let Some(rest) = text.strip_prefix("/*") {
            let Some(end) = rest.find("*/") else {
                return "";
            };
            text = rest[end + 2..].trim_start();
        } else if let Some(rest) = text.strip_prefix("--") {
            text = rest
                .find('\n')
                .map_or("", |end| &rest[end + 1..])
                .trim_start();
        } else {
            return text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_decorated() {
        assert_eq!(name("SHOW pgdog_guard").as_deref(), Some("pgdog_guard"));
        assert_eq!(
            name("  show PGDOG_Guard ;; ").as_deref(),
            Some("pgdog_guard")
        );
        assert_eq!(
            name("Show\n\tpgdog.status;").as_deref(),
            Some("pgdog.status")
        );
        assert_eq!(
            name("/* app: web */ -- note\nSHOW pgdog_guard").as_deref(),
            Some("pgdog_guard")
        );
    }

    #[test]
    fn not_one_show() {
        assert_eq!(name("SHOW pgdog_guard; SELECT 1"), None);
        assert_eq!(name("SHOW TIME ZONE"), None);
        assert_eq!(name("SHOW \"Quoted\""), None);
        assert_eq!(name("SHOWx"), None);
        assert_eq!(name("SHOW"), None);
        assert_eq!(name("SHOW ;"), None);
        assert_eq!(name("SELECT 1"), None);
        assert_eq!(name("/* unterminated SHOW x"), None);
        assert_eq!(name("shö"), None);
    }
}
