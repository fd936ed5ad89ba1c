//! The admin API's bearer token: read from a file or the environment, never from the
//! command line (where any local user sees it in the process list), compared in constant
//! time, and never shown.
//!
//! With a token, the agent answers every admin request without
//! `Authorization: Bearer <token>` with `401` ([`crate::http`]); the client subcommands
//! send it ([`crate::client::AdminClient::with_token`]).

use std::fmt;
use std::path::Path;

/// Longest token accepted, in bytes.
pub const MAX_LEN: usize = 4096;

/// A bearer token for the admin API. `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

/// Why a token could not be read. No message repeats any part of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError(String);

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

impl AdminToken {
    /// The token in `text`, surrounding whitespace (a trailing newline) removed. It must be
    /// 1 to [`MAX_LEN`] visible ASCII characters (`!` to `~`), without spaces.
    ///
    /// # Errors
    ///
    /// Empty, too long, or a character outside that range; the message does not repeat
    /// the text.
    pub fn parse(text: &str) -> Result<AdminToken, TokenError> {
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError("the token is empty".into()));
        }
        if token.len() > MAX_LEN {
            return Err(TokenError(format!(
                "the token is {} bytes long; at most {MAX_LEN}",
                token.len()
            )));
        }
        if let Some(position) = token.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(TokenError(format!(
                "character {} of the token is not visible ASCII (`!` to `~`, no spaces)",
                position + 1
            )));
        }
        Ok(AdminToken(token.to_string()))
    }

    /// Reads the token from the file at `path` (its whole contents, trimmed).
    ///
    /// # Errors
    ///
    /// The file cannot be read, or holds no valid token.
    pub fn from_file(path: &Path) -> Result<AdminToken, TokenError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TokenError(format!("cannot read {}: {e}", path.display())))?;
        AdminToken::parse(&text).map_err(|e| TokenError(format!("{}: {e}", path.display())))
    }

    /// Whether `presented` is this token. The time taken depends on the token's length
    /// only, never on where `presented` first differs.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut difference = u8::from(presented.len() != expected.len());
        for (index, byte) in expected.iter().enumerate() {
            let other = presented.get(index).copied().unwrap_or(0);
            difference |= byte ^ other;
        }
        std::hint::black_box(difference) == 0
    }

    /// The value of an `Authorization` header carrying the token.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminToken(<{} bytes>)", self.0.len())
    }
}

/// The credentials of an `Authorization: Bearer <credentials>` header value (the scheme is
/// case-insensitive); `None` for any other scheme.
pub fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    Some(rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_checked_without_echo() {
        assert_eq!(
            AdminToken::parse("s3cr3t-token\n").unwrap(),
            AdminToken::parse("s3cr3t-token").unwrap()
        );
        for bad in ["", " \n", "two words", "tab\there", "é"] {
            let error = AdminToken::parse(bad).unwrap_err().to_string();
            assert!(!bad.trim().is_empty() || error.contains("empty"), "{error}");
            if bad.len() > 3 {
                assert!(!error.contains(bad.trim()), "{error}");
            }
        }
        assert!(AdminToken::parse(&"x".repeat(MAX_LEN + 1)).is_err());
        let debug = format!("{:?}", AdminToken::parse("s3cr3t").unwrap());
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn only_the_same_token_matches() {
        let token = AdminToken::parse("s3cr3t").unwrap();
        assert!(token.matches(b"s3cr3t"));
        for other in [&b""[..], b"s3cr3", b"s3cr3t!", b"S3cr3t", b"s3cr3t\0"] {
            assert!(!token.matches(other), "{other:?}");
        }
    }

    #[test]
    fn bearer_credentials_are_taken_from_the_header() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
    }
}
