//! Parties' resident ID numbers and mobile numbers: checked on the way in, shown masked on the
//! way out. The store keeps them encrypted; a reveal of the clear value is audited there. Here,
//! the checked types never show their clear value by accident: `Debug` and `Display` print the
//! masked form, there is no `Serialize`, and errors never quote the input. Only
//! [`ResidentIdNumber::reveal`] and [`MobileNumber::reveal`] give the clear value, for the
//! encryption step and for an audited reveal.

use chrono::NaiveDate;

/// Mask all but the first `keep_start` and the last `keep_end` characters. A value too short
/// to keep both ends while hiding anything is hidden whole: a mask must never show it all.
fn mask(value: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n <= keep_start + keep_end {
        return "*".repeat(n);
    }
    let mut out: String = chars[..keep_start].iter().collect();
    out.push_str(&"*".repeat(n - keep_start - keep_end));
    out.extend(&chars[n - keep_end..]);
    out
}

/// An ID number as shown: the first 3 and last 4 characters (`370***********1234`). The first
/// three give the province and city, the last four what a villager reads out to check it is
/// theirs; the birth date in between stays hidden.
pub fn mask_id_number(value: &str) -> String {
    mask(value.trim(), 3, 4)
}

/// A phone number as shown: the first 3 and last 4 digits (`138****5678`), the usual form.
pub fn mask_phone(value: &str) -> String {
    mask(value.trim(), 3, 4)
}

/// Why an ID number was refused: 422 on the party's `id_number`. Never quotes the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("an ID number has 18 characters")]
    Length,
    #[error("an ID number is 17 digits and a check digit (0-9 or X)")]
    NotDigits,
    #[error("the birth date in the ID number is not a date")]
    BirthDate,
    #[error("the ID number's check digit is wrong")]
    CheckDigit,
}

impl IdNumberError {
    /// The problem code for the API's field error.
    pub fn problem(self) -> &'static str {
        match self {
            IdNumberError::Length => "length",
            IdNumberError::NotDigits => "not_digits",
            IdNumberError::BirthDate => "birth_date",
            IdNumberError::CheckDigit => "check_digit",
        }
    }
}

/// Weights of the 17 digits in the check digit (GB 11643-1999, ISO 7064 MOD 11-2).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder mod 11.
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// Birth years before this are not plausible for a living party.
const MIN_BIRTH_YEAR: i32 = 1900;

/// The check character of the first 17 digits of an ID number.
fn id_check_char(digits: &[u32]) -> char {
    let sum: u32 = digits.iter().zip(ID_WEIGHTS).map(|(d, w)| d * w).sum();
    ID_CHECK[(sum % 11) as usize]
}

/// A checked 18-digit resident ID number (居民身份证号码), with an upper-case `X` check digit.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentIdNumber(String);

impl ResidentIdNumber {
    /// Check a resident ID number: 18 characters after trimming, 17 digits, a real birth date
    /// from 1900 on, and the check digit (a lower-case `x` is accepted and stored upper-case).
    pub fn parse(input: &str) -> Result<ResidentIdNumber, IdNumberError> {
        let s = input.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(IdNumberError::Length);
        }
        let chars: Vec<char> = s.chars().collect();
        let mut digits = Vec::with_capacity(17);
        for c in &chars[..17] {
            digits.push(c.to_digit(10).ok_or(IdNumberError::NotDigits)?);
        }
        let check = chars[17];
        if !(check.is_ascii_digit() || check == 'X') {
            return Err(IdNumberError::NotDigits);
        }
        let number = |range: std::ops::Range<usize>| digits[range].iter().fold(0u32, |acc, d| acc * 10 + d);
        let year = i32::try_from(number(6..10)).map_err(|_| IdNumberError::BirthDate)?;
        let born = NaiveDate::from_ymd_opt(year, number(10..12), number(12..14));
        if born.is_none() || year < MIN_BIRTH_YEAR {
            return Err(IdNumberError::BirthDate);
        }
        if id_check_char(&digits) != check {
            return Err(IdNumberError::CheckDigit);
        }
        Ok(ResidentIdNumber(s))
    }

    /// The birth date the number carries.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        let part = |r: std::ops::Range<usize>| self.0.get(r).and_then(|p| p.parse::<u32>().ok());
        let year = i32::try_from(part(6..10)?).ok()?;
        NaiveDate::from_ymd_opt(year, part(10..12)?, part(12..14)?)
    }

    pub fn masked(&self) -> String {
        mask_id_number(&self.0)
    }

    /// The clear value: for encrypting it, and for a reveal the store audits.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ResidentIdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResidentIdNumber({})", self.masked())
    }
}

impl std::fmt::Display for ResidentIdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a mobile number was refused: 422 on the party's `phone`. Never quotes the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a mainland mobile number is 11 digits starting 13 to 19")]
pub struct PhoneError;

/// A checked mainland China mobile number: 11 digits, `1` then `3`–`9`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MobileNumber(String);

impl MobileNumber {
    /// Check a mobile number as people type it: spaces and hyphens are dropped, and a leading
    /// `+86` or `86` country code (before 11 more digits) is taken off.
    pub fn parse(input: &str) -> Result<MobileNumber, PhoneError> {
        let s: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let s = match s.strip_prefix("+86") {
            Some(rest) => rest,
            None if s.len() == 13 => s.strip_prefix("86").unwrap_or(&s),
            None => &s,
        };
        let b = s.as_bytes();
        let ok = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        if ok { Ok(MobileNumber(s.to_string())) } else { Err(PhoneError) }
    }

    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }

    /// The clear value: for encrypting it, for dialling, and for a reveal the store audits.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MobileNumber({})", self.masked())
    }
}

impl std::fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The well-known sample number of GB 11643 (Beijing, born 1949-12-31).
    const SAMPLE_ID: &str = "11010519491231002X";

    /// Complete 17 digits with their check character.
    fn with_check(first17: &str) -> String {
        let digits: Vec<u32> = first17.chars().filter_map(|c| c.to_digit(10)).collect();
        format!("{first17}{}", id_check_char(&digits))
    }

    #[test]
    fn masks_keep_three_and_four() {
        assert_eq!(mask_id_number("370123199001011234"), "370***********1234");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone(" 13812345678 "), "138****5678");
        // Too short to mask partly: hidden whole.
        assert_eq!(mask_phone("1234567"), "*******");
        assert_eq!(mask_phone(""), "");
        assert_eq!(mask_id_number("12345678"), "123*5678");
    }

    #[test]
    fn resident_ids_are_checked() {
        let id = ResidentIdNumber::parse(SAMPLE_ID).unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31));
        assert_eq!(ResidentIdNumber::parse(" 11010519491231002x ").unwrap(), id);
        assert_eq!(id.to_string(), "110***********002X");
        assert_eq!(format!("{id:?}"), "ResidentIdNumber(110***********002X)");
        assert_eq!(id.reveal(), SAMPLE_ID);
        assert_eq!(ResidentIdNumber::parse("110105194912310021"), Err(IdNumberError::CheckDigit));
        assert_eq!(ResidentIdNumber::parse("1101051949123100"), Err(IdNumberError::Length));
        assert_eq!(ResidentIdNumber::parse("11010519491231X02X"), Err(IdNumberError::NotDigits));
        assert_eq!(ResidentIdNumber::parse("11010519491231002Y"), Err(IdNumberError::NotDigits));
        let feb30 = with_check("37012319900230123");
        assert_eq!(ResidentIdNumber::parse(&feb30), Err(IdNumberError::BirthDate));
        let old = with_check("37012318991231123");
        assert_eq!(ResidentIdNumber::parse(&old), Err(IdNumberError::BirthDate));
        let leling = with_check("37148119850615123");
        assert_eq!(ResidentIdNumber::parse(&leling).unwrap().masked(), format!("371***********{}", &leling[14..]));
        assert_eq!(IdNumberError::CheckDigit.problem(), "check_digit");
    }

    #[test]
    fn mobile_numbers_are_checked() {
        let m = MobileNumber::parse("138-1234-5678").unwrap();
        assert_eq!((m.reveal(), m.masked()), ("13812345678", "138****5678".to_string()));
        assert_eq!(format!("{m:?}"), "MobileNumber(138****5678)");
        assert_eq!(MobileNumber::parse("+86 138 1234 5678").unwrap(), m);
        assert_eq!(MobileNumber::parse("8613812345678").unwrap(), m);
        for bad in ["12812345678", "1381234567", "138123456789", "0531-1234567", "1381234567a", "+1 13812345678", ""] {
            assert_eq!(MobileNumber::parse(bad), Err(PhoneError), "{bad}");
        }
    }

    proptest! {
        /// Every 17 digits with a real date and their check digit parse; changing any one
        /// digit breaks the check; the mask never shows the birth date.
        #[test]
        fn check_digit_catches_every_single_digit_error(
            region in 110000u32..660000,
            day in 0i64..(365 * 120),
            seq in 0u32..1000,
            pos in 0usize..17,
            bump in 1u32..10,
        ) {
            let Some(born) = NaiveDate::from_ymd_opt(1901, 1, 1)
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(day))) else { return Ok(()) };
            let first17 = format!("{region:06}{}{seq:03}", born.format("%Y%m%d"));
            let id = with_check(&first17);
            let parsed = ResidentIdNumber::parse(&id).unwrap();
            prop_assert_eq!(parsed.birth_date(), Some(born));
            let masked = parsed.masked();
            prop_assert_eq!(masked.chars().count(), 18);
            prop_assert_eq!(&masked[3..14], "***********");
            let mut chars: Vec<char> = id.chars().collect();
            let d = chars[pos].to_digit(10).unwrap();
            chars[pos] = char::from_digit((d + bump) % 10, 10).unwrap();
            let broken: String = chars.into_iter().collect();
            prop_assert!(ResidentIdNumber::parse(&broken).is_err());
        }
    }
}
