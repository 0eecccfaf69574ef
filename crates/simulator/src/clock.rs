//! Wall-clock time and the two ways the API writes it, formatted by the simulator itself.
//!
//! Deliberately not the exporter's calendar code: dates are found by walking years and months
//! from 1970, a slow but obviously right method, so an error in either side's arithmetic shows up
//! as a difference in the end-to-end tests instead of cancelling out.

/// The system clock as unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_lengths(year: i64) -> [i64; 12] {
    let february = if leap(year) { 29 } else { 28 };
    [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
}

/// (year, month, day, seconds of the day) of unix seconds.
fn calendar(unix: i64) -> (i64, usize, i64, i64) {
    let mut days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let mut year = 1970;
    loop {
        let length = if leap(year) { 366 } else { 365 };
        if days < 0 {
            year -= 1;
            days += if leap(year) { 366 } else { 365 };
        } else if days >= length {
            days -= length;
            year += 1;
        } else {
            break;
        }
    }
    let mut month = 0;
    for length in month_lengths(year) {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    (year, month + 1, days + 1, seconds)
}

fn write(unix: i64, between: char) -> String {
    let (year, month, day, s) = calendar(unix);
    format!(
        "{year:04}-{month:02}-{day:02}{between}{:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `YYYY-MM-DD hh:mm:ss` in GMT+8, as most fields carry times.
pub fn beijing(unix: i64) -> String {
    write(unix + 8 * 3600, ' ')
}

/// `YYYY-MM-DDThh:mm:ss.000000Z` in UTC, as upload-update items carry times.
pub fn iso_utc(unix: i64) -> String {
    write(unix, 'T') + ".000000Z"
}

/// `YYYY-MM-DD` in UTC: the date of a TC3 credential scope.
pub fn scope_date(unix: i64) -> String {
    let (year, month, day, _) = calendar(unix);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(beijing(0), "1970-01-01 08:00:00");
        assert_eq!(beijing(1_697_083_200), "2023-10-12 12:00:00");
        assert_eq!(iso_utc(1_747_724_597), "2025-05-20T07:03:17.000000Z");
        assert_eq!(scope_date(1_704_067_199), "2023-12-31");
        assert_eq!(scope_date(1_704_067_200), "2024-01-01");
        assert_eq!(beijing(951_782_400), "2000-02-29 08:00:00");
        assert_eq!(scope_date(-1), "1969-12-31");
    }
}
