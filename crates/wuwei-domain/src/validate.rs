//! Checked values at the edge: once parsed, a username or a page request cannot be invalid.
//! Failures name the field and a [`Rule`]; the HTTP layer turns the rule into a message in the
//! caller's language.

use serde::Serialize;

/// Why a field was refused. Parameters travel with the rule so messages can quote them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    Required,
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    /// Characters outside what the field allows; `allowed` says what is.
    Charset {
        allowed: &'static str,
    },
    OutOfRange {
        min: i64,
        max: i64,
    },
    /// One of a fixed set of values was expected.
    OneOf {
        allowed: Vec<String>,
    },
    /// A reference to something that does not exist (or is not visible to the caller).
    UnknownReference,
    /// Already taken.
    Duplicate,
    /// A geometry problem; `code` is the geometry error's code.
    Geometry {
        code: &'static str,
        detail: String,
    },
    /// Not allowed for this caller or in this combination; `reason` is a short code.
    NotAllowed {
        reason: &'static str,
    },
    /// The value has the wrong JSON type or format.
    Format {
        expected: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldIssue {
    pub field: String,
    #[serde(flatten)]
    pub rule: Rule,
}

impl FieldIssue {
    pub fn new(field: impl Into<String>, rule: Rule) -> FieldIssue {
        FieldIssue { field: field.into(), rule }
    }
}

/// Collects every problem of a request, so the user fixes them all at once.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Issues(pub Vec<FieldIssue>);

impl Issues {
    pub fn push(&mut self, field: impl Into<String>, rule: Rule) {
        self.0.push(FieldIssue::new(field, rule));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keep a parsed value, or record why it failed.
    pub fn take<T>(&mut self, r: Result<T, FieldIssue>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(issue) => {
                self.0.push(issue);
                None
            }
        }
    }

    pub fn into_result(self) -> Result<(), Issues> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// A sign-in name: 3–32 of `a-z 0-9 . _ -`, starting with a letter or digit. Lower case only,
/// so `Admin` and `admin` can never be two accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;

    pub fn parse(field: &str, raw: &str) -> Result<Username, FieldIssue> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldIssue::new(field, Rule::Required));
        }
        if s.len() < Self::MIN {
            return Err(FieldIssue::new(field, Rule::TooShort { min: Self::MIN }));
        }
        if s.len() > Self::MAX {
            return Err(FieldIssue::new(field, Rule::TooLong { max: Self::MAX }));
        }
        let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_rest = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(ok_first && ok_rest) {
            return Err(FieldIssue::new(field, Rule::Charset { allowed: "a-z 0-9 . _ -" }));
        }
        Ok(Username(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8–128 characters. Length is what matters; no composition rules (NIST
/// SP 800-63B), and the upper bound keeps hashing cost bounded.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    pub fn parse(field: &str, raw: &str) -> Result<NewPassword, FieldIssue> {
        let n = char_len(raw);
        if n == 0 {
            return Err(FieldIssue::new(field, Rule::Required));
        }
        if n < Self::MIN {
            return Err(FieldIssue::new(field, Rule::TooShort { min: Self::MIN }));
        }
        if n > Self::MAX {
            return Err(FieldIssue::new(field, Rule::TooLong { max: Self::MAX }));
        }
        Ok(NewPassword(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A trimmed, non-empty text of at most `max` characters without control characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldIssue::new(field, Rule::Required));
    }
    if char_len(s) > max {
        return Err(FieldIssue::new(field, Rule::TooLong { max }));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldIssue::new(field, Rule::Charset { allowed: "printable text" }));
    }
    Ok(s.to_string())
}

/// An optional text: empty means none.
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, FieldIssue> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => text(field, s, max).map(Some),
    }
}

/// A phone number as people write them: digits with optional `+`, spaces and dashes, 5–20 long.
pub fn phone(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldIssue> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => {
            if s.len() > 20 {
                return Err(FieldIssue::new(field, Rule::TooLong { max: 20 }));
            }
            let digits = s.chars().filter(char::is_ascii_digit).count();
            let ok =
                s.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (c == '+' && i == 0));
            if !ok || digits < 5 {
                return Err(FieldIssue::new(field, Rule::Charset { allowed: "0-9 + - space" }));
            }
            Ok(Some(s.to_string()))
        }
    }
}

/// A region or household code: 1–32 of `A-Z a-z 0-9 - _`.
pub fn code(field: &str, raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldIssue::new(field, Rule::Required));
    }
    if s.len() > 32 {
        return Err(FieldIssue::new(field, Rule::TooLong { max: 32 }));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(FieldIssue::new(field, Rule::Charset { allowed: "A-Z a-z 0-9 - _" }));
    }
    Ok(s.to_string())
}

/// Which page of a list: pages count from 1, at most [`PageRequest::MAX_SIZE`] rows each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u64 = 50;
    pub const MAX_SIZE: u64 = 200;
    /// Deep pages are refused rather than scanned: use filters instead.
    pub const MAX_PAGE: u64 = 100_000;

    pub fn parse(page: Option<i64>, page_size: Option<i64>) -> Result<PageRequest, Issues> {
        let mut issues = Issues::default();
        let page = page.unwrap_or(1);
        let size = page_size.unwrap_or(Self::DEFAULT_SIZE as i64);
        if !(1..=Self::MAX_PAGE as i64).contains(&page) {
            issues.push("page", Rule::OutOfRange { min: 1, max: Self::MAX_PAGE as i64 });
        }
        if !(1..=Self::MAX_SIZE as i64).contains(&size) {
            issues.push("page_size", Rule::OutOfRange { min: 1, max: Self::MAX_SIZE as i64 });
        }
        issues.into_result()?;
        Ok(PageRequest { page: page as u64, page_size: size as u64 })
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("u", " gw01 ").unwrap().as_str(), "gw01");
        assert_eq!(Username::parse("u", "").unwrap_err().rule, Rule::Required);
        assert_eq!(Username::parse("u", "ab").unwrap_err().rule, Rule::TooShort { min: 3 });
        assert!(matches!(Username::parse("u", "Admin").unwrap_err().rule, Rule::Charset { .. }));
        assert!(matches!(Username::parse("u", "_x1").unwrap_err().rule, Rule::Charset { .. }));
        assert!(matches!(Username::parse("u", "网格员").unwrap_err().rule, Rule::Charset { .. }));
        assert_eq!(Username::parse("u", &"a".repeat(33)).unwrap_err().rule, Rule::TooLong { max: 32 });
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(NewPassword::parse("p", "wuwei-demo").is_ok());
        assert!(NewPassword::parse("p", "短密码").is_err());
        assert!(NewPassword::parse("p", "八个汉字的密码呀").is_ok());
        assert!(NewPassword::parse("p", &"x".repeat(129)).is_err());
        assert_eq!(format!("{:?}", NewPassword::parse("p", "secret-secret").unwrap()), "NewPassword(***)");
    }

    #[test]
    fn texts_and_phones() {
        assert_eq!(text("n", "  丁坞镇 ", 10).unwrap(), "丁坞镇");
        assert!(text("n", "a\u{0}b", 10).is_err());
        assert_eq!(text("n", "十一个字十一个字十一个", 10).unwrap_err().rule, Rule::TooLong { max: 10 });
        assert_eq!(phone("p", Some("170-0123-4567")).unwrap().as_deref(), Some("170-0123-4567"));
        assert_eq!(phone("p", Some("")).unwrap(), None);
        assert!(phone("p", Some("call me")).is_err());
        assert!(code("c", "DW-AV01").is_ok());
        assert!(code("c", "DW AV01").is_err());
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(PageRequest::parse(None, None).unwrap(), PageRequest { page: 1, page_size: 50 });
        assert_eq!(PageRequest::parse(Some(3), Some(200)).unwrap().offset(), 400);
        let err = PageRequest::parse(Some(0), Some(201)).unwrap_err();
        assert_eq!(err.0.len(), 2);
    }
}
