//! Calendar arithmetic for the two dates gljob reads: HTTP dates (`Retry-After`) and zip
//! entries' DOS dates. A few lines of arithmetic instead of a date crate.
//!
//! Both come from outside (a server, an archive), so nothing here can overflow or underflow:
//! impossible dates are `None`, never a panic (a debug build) or a wrapped number (release).

/// Parses an IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`) to Unix seconds.
///
/// Only real dates and times are accepted: day 0, Feb 30, hour 24 or a year that is not
/// four digits (RFC 9110's `year = 4DIGIT`) is `None`, like any other malformed value, so a
/// server's date is never computed with before it is known to be a date.
pub fn parse_http_date(value: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = value.split_whitespace().skip(1);
    let day = digits(parts.next()?, 1, 2)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year = digits(parts.next()?, 4, 4)?;
    let mut hms = parts.next()?.split(':').map(|n| digits(n, 2, 2));
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // 60: a leap second, which the grammar allows.
    if hms.next().is_some() || day > days_in_month(year, month) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    days_from_civil(year, month, day)?
        .checked_mul(86400)?
        .checked_add(h * 3600 + m * 60 + s)
}

/// A number of `min..=max` ASCII digits (no sign, no space: `str::parse` alone accepts `+1`).
fn digits(text: &str, min: usize, max: usize) -> Option<u64> {
    let ok = (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten()
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
///
/// `None` before 1970, for a month outside 1–12 or a day outside 1–31, and where the result
/// would not fit a u64, whatever the input. A day past its month's end (Feb 30) counts on
/// into the next month, as zip tools do with DOS dates; [`parse_http_date`] refuses those.
pub fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y % 400;
    // With m and d in range these are below 400 * 366: no overflow possible.
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
        // The grammar allows a leap second; the last one a four-digit year reaches:
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:60 GMT"),
            Some(253_402_300_800)
        );
        assert_eq!(parse_http_date("soon"), None);
    }

    /// Issue 11, class 6: each of these panicked in a debug build (day 0 underflowed, a huge
    /// year overflowed) or was computed as some other date (Feb 30, hour 99).
    #[test]
    fn impossible_http_dates_are_none_not_a_panic() {
        for value in [
            "Wed, 00 Mar 2015 07:28:00 GMT",
            "Mon, 30 Feb 2015 07:28:00 GMT",
            "Thu, 29 Feb 2023 07:28:00 GMT",
            "Wed, 31 Apr 2015 07:28:00 GMT",
            "Wed, 21 Oct 18446744073709551615 07:28:00 GMT",
            "Wed, 21 Oct 99999999999999999 07:28:00 GMT",
            "Wed, 21 Oct 20155 07:28:00 GMT",
            "Wed, 21 Oct 1969 07:28:00 GMT",
            "Wed, 21 Oct 2015 24:00:00 GMT",
            "Wed, 21 Oct 2015 07:60:00 GMT",
            "Wed, 21 Oct 2015 07:28:61 GMT",
            "Wed, 21 Oct 2015 18446744073709551615:00:00 GMT",
            "Wed, 21 Oct 2015 07:28:00:00 GMT",
            "Wed, +1 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct +015 07:28:00 GMT",
            "Wed, 21 Oct 2015",
        ] {
            assert_eq!(parse_http_date(value), None, "{value}");
        }
    }

    #[test]
    fn days_from_civil_never_overflows() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(1969, 12, 31), None);
        assert_eq!(days_from_civil(u64::MAX, 12, 31), None);
        assert_eq!(days_from_civil(u64::MAX, 1, 1), None);
        assert_eq!(days_from_civil(2000, 0, 1), None);
        assert_eq!(days_from_civil(2000, 13, 1), None);
        assert_eq!(days_from_civil(2000, 3, 0), None);
        assert_eq!(days_from_civil(2000, u64::MAX, u64::MAX), None);
        // A DOS date's Feb 30 is Mar 1 of a leap year (counted on, not refused).
        assert_eq!(days_from_civil(2000, 2, 30), days_from_civil(2000, 3, 1));
    }
}
