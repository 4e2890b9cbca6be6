//! The policy every new password meets (an account added, a password reset, over the API
//! or the command line): long enough, not digits only nor one character repeated, not the
//! login, and not one of the passwords every guesser tries first. The demo's accounts
//! (password `demo`) are made by `auth::demo` without it: they are marked, refused on any
//! non-loopback address, and purged before a deployment goes live.

/// The fewest characters a new password has.
pub const MIN_CHARS: usize = 10;

/// The most characters taken: Argon2 takes any length, but nobody types more.
pub const MAX_CHARS: usize = 256;

/// Passwords of at least [`MIN_CHARS`] characters that are still among the first a guesser
/// tries (lists of leaked passwords, keyboard walks, this product's own name), compared
/// without regard to case.
const COMMON: &[&str] = &[
    "password123",
    "password1234",
    "password12345",
    "passw0rd123",
    "p@ssw0rd123",
    "p@ssword123",
    "qwertyuiop",
    "qwertyuiop123",
    "qwerty123456",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "a123456789",
    "aa123456789",
    "abc123456789",
    "abcd1234567",
    "abcd12345678",
    "abcdefghij",
    "abcdefg123",
    "asdfghjkl;",
    "asdfghjkl123",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "changeme123",
    "administrator",
    "admin12345",
    "admin123456",
    "admin@123456",
    "woaini1314",
    "woaini1314520",
    "5201314woaini",
    "gridlink123",
    "gridlink1234",
    "demo123456",
];

/// Which rule a new password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weak {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("the password breaks the rule min-length: it needs at least {MIN_CHARS} characters")]
    TooShort,
    /// More than [`MAX_CHARS`] characters.
    #[error("the password breaks the rule max-length: it may have at most {MAX_CHARS} characters")]
    TooLong,
    /// Digits only: a number is guessed by counting.
    #[error("the password breaks the rule not-digits-only: add letters or signs")]
    DigitsOnly,
    /// One character repeated.
    #[error("the password breaks the rule not-one-character: it repeats a single character")]
    OneCharacter,
    /// The login itself.
    #[error("the password breaks the rule not-the-login: it is the account's login")]
    IsTheLogin,
    /// One of the common passwords.
    #[error("the password breaks the rule not-common: it is among the passwords guessed first")]
    Common,
}

/// Checks a new password for the account `login` against the policy; the first rule it breaks.
pub fn check(password: &str, login: &str) -> Result<(), Weak> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weak::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weak::TooLong);
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(Weak::DigitsOnly);
    }
    let mut all = password.chars();
    if let Some(first) = all.next()
        && all.all(|c| c == first)
    {
        return Err(Weak::OneCharacter);
    }
    let lower = password.to_lowercase();
    if lower == login.trim().to_lowercase() {
        return Err(Weak::IsTheLogin);
    }
    if COMMON.contains(&lower.as_str()) {
        return Err(Weak::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_named_and_a_good_password_passes() {
        assert_eq!(check("short1!", "zhang"), Err(Weak::TooShort));
        assert_eq!(check("十个字符还不够九", "zhang"), Err(Weak::TooShort), "characters, not bytes");
        assert_eq!(check(&"x1".repeat(200), "zhang"), Err(Weak::TooLong));
        assert_eq!(check("13812345678", "zhang"), Err(Weak::DigitsOnly));
        assert_eq!(check("aaaaaaaaaaaa", "zhang"), Err(Weak::OneCharacter));
        assert_eq!(check("Zhang.San.Li", "zhang.san.li"), Err(Weak::IsTheLogin));
        assert_eq!(check("Password123", "zhang"), Err(Weak::Common));
        assert_eq!(check("QWERTYUIOP", "zhang"), Err(Weak::Common));
        assert_eq!(check("correct horse battery", "zhang"), Ok(()));
        assert_eq!(check("网格员张三的密码很长", "zhang"), Ok(()));
        assert!(Weak::TooShort.to_string().contains("min-length"));
    }

    #[test]
    fn the_common_list_holds_only_what_the_other_rules_let_through() {
        for common in COMMON {
            assert_eq!(common.to_lowercase(), *common, "kept in lower case: {common}");
            assert!(common.chars().count() >= MIN_CHARS, "shorter ones are refused anyway: {common}");
        }
    }
}
