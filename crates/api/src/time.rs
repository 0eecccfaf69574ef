//! Calendar arithmetic and the two time formats the SSL API uses.
//!
//! `YYYY-MM-DD HH:MM:SS` without a zone means GMT+8 (China Standard Time, no DST);
//! upload-update items use RFC 3339 in UTC (`2025-05-20T07:03:17.000000Z`). Everything becomes unix
//! seconds. Hand-written because it is a few lines of well-known arithmetic (Howard Hinnant's
//! `days_from_civil`) and keeps a date crate out of the dependency tree.

/// Offset of the API's zone-less timestamps from UTC.
pub const GMT8_OFFSET_SECONDS: i64 = 8 * 3600;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The system clock as unix milliseconds (0 if the clock is before 1970).
pub fn now_unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The system clock as unix seconds.
pub fn now_unix() -> i64 {
    now_unix_millis().div_euclid(1000)
}

/// `YYYY-MM-DD` (UTC) of a unix timestamp: the date in a TC3 credential scope.
pub fn utc_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD HH:MM:SS` (also with `T` between date and time) into
/// (days since epoch, seconds of day), validating every field.
fn parse_naive(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut dp = date.splitn(3, '-');
    let (year, month, day) = (
        number(dp.next()?)?,
        number(dp.next()?)?,
        number(dp.next()?)?,
    );
    let mut tp = time.splitn(3, ':');
    let (hour, minute) = (number(tp.next()?)?, number(tp.next()?)?);
    let sec_field = tp.next()?;
    let second = number(sec_field.split('.').next()?)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 || !(1..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some((
        days,
        i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second),
    ))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses the API's zone-less `YYYY-MM-DD HH:MM:SS` (GMT+8) into unix seconds.
pub fn parse_gmt8(s: &str) -> Option<i64> {
    let (days, secs) = parse_naive(s)?;
    Some(days * 86_400 + secs - GMT8_OFFSET_SECONDS)
}

/// Parses an API time: RFC 3339 with `Z` or a `±HH:MM` offset, or zone-less GMT+8.
pub fn parse_api_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(utc) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        let (days, secs) = parse_naive(utc)?;
        return Some(days * 86_400 + secs);
    }
    let offset_at = s.len().wrapping_sub(6);
    if s.len() > 6 && s.contains('T') && s.is_char_boundary(offset_at) {
        let (head, offset) = s.split_at(offset_at);
        let sign = match offset.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return parse_gmt8(s),
        };
        let (oh, om) = offset[1..].split_once(':')?;
        let offset_secs = i64::from(number(oh)?) * 3600 + i64::from(number(om)?) * 60;
        let (days, secs) = parse_naive(head)?;
        return Some(days * 86_400 + secs - sign * offset_secs);
    }
    parse_gmt8(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn utc_date_of_known_instants() {
        assert_eq!(utc_date(1_700_000_000), "2023-11-14");
        assert_eq!(utc_date(1_704_067_199), "2023-12-31");
        assert_eq!(utc_date(1_704_067_200), "2024-01-01");
        assert_eq!(utc_date(0), "1970-01-01");
    }

    #[test]
    fn gmt8_is_eight_hours_ahead_of_utc() {
        // 2023-10-12 12:00:00 GMT+8 == 2023-10-12 04:00:00 UTC == 1697083200
        assert_eq!(parse_gmt8("2023-10-12 12:00:00"), Some(1_697_083_200));
        assert_eq!(parse_gmt8("1970-01-01 08:00:00"), Some(0));
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(
            parse_api_time("2025-05-20T07:03:17.000000Z"),
            parse_gmt8("2025-05-20 15:03:17")
        );
        assert_eq!(
            parse_api_time("2025-05-20T15:03:17+08:00"),
            parse_gmt8("2025-05-20 15:03:17")
        );
        assert_eq!(parse_api_time("1970-01-01T00:00:00-01:00"), Some(3600));
        assert_eq!(
            parse_api_time("2025-05-20T07:03:17.000000Z"),
            Some(1_747_724_597)
        );
    }

    #[test]
    fn invalid_times_are_none() {
        for s in [
            "",
            "2025-13-01 00:00:00",
            "2025-02-30 00:00:00",
            "2025-01-01",
            "2025-01-01 24:00:00",
            "abcd-01-01 00:00:00",
            "2025-01-01 00:00:0x",
            "+2025-01-01 00:00:00",
            "99999999999999999999-01-01 00:00:00",
            "0000-00-00 00:00:00",
            // Found by fuzzing: a multi-byte character where a `±HH:MM` offset would start.
            "20TCsSCMA052\u{50c}25617",
            "2025-05-20T07:03:1\u{00e9}:00",
        ] {
            assert_eq!(parse_api_time(s), None, "{s:?}");
        }
        assert!(parse_gmt8("2024-02-29 00:00:00").is_some());
        assert_eq!(parse_gmt8("2023-02-29 00:00:00"), None);
    }
}
