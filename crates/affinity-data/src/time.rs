//! Parsing of dates and timestamps into seconds since the Unix epoch (UTC).

/// How a timestamp column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// Integers are Unix seconds (milliseconds when 13 digits or more); `YYYY-...` is ISO 8601;
    /// anything else is read day first (`DD-MM-YYYY`, `DD/MM/YYYY`, `DD.MM.YYYY`). Month-first
    /// dates must be asked for explicitly: they cannot be told apart from day-first ones.
    #[default]
    Auto,
    /// `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.frac]]`, and `Z` or
    /// an offset `±HH:MM`.
    Iso,
    /// `DD-MM-YYYY` (or with `/` or `.`), optionally followed by a time as in `Iso`.
    DayMonthYear,
    /// `MM-DD-YYYY` (or with `/` or `.`), optionally followed by a time as in `Iso`.
    MonthDayYear,
    /// Integer seconds since the epoch.
    UnixSeconds,
    /// Integer milliseconds since the epoch.
    UnixMillis,
}

impl std::str::FromStr for TimeFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => TimeFormat::Auto,
            "iso" | "ymd" => TimeFormat::Iso,
            "dmy" => TimeFormat::DayMonthYear,
            "mdy" => TimeFormat::MonthDayYear,
            "unix" | "unix-seconds" => TimeFormat::UnixSeconds,
            "unix-ms" | "unix-millis" => TimeFormat::UnixMillis,
            other => {
                return Err(format!(
                    "unknown time format {other:?} (auto, iso, dmy, mdy, unix, unix-ms)"
                ))
            }
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01, as `(year, month, day)`: the inverse
/// of [`days_from_civil`] (Howard Hinnant's `civil_from_days`).
///
/// ```
/// use affinity_data::{civil_from_days, days_from_civil};
/// assert_eq!(civil_from_days(days_from_civil(2015, 7, 21)), (2015, 7, 21));
/// assert_eq!(civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn number(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `text` in `format`; `None` when it does not parse or names no real date.
///
/// ```
/// use affinity_data::{parse_timestamp, TimeFormat};
/// assert_eq!(parse_timestamp("21-07-2015", TimeFormat::DayMonthYear), Some(1_437_436_800));
/// assert_eq!(parse_timestamp("2015-07-21T01:00:00Z", TimeFormat::Auto), Some(1_437_440_400));
/// assert_eq!(parse_timestamp("31-02-2015", TimeFormat::Auto), None);
/// ```
pub fn parse_timestamp(text: &str, format: TimeFormat) -> Option<i64> {
    let text = text.trim();
    let all_digits = |s: &str| {
        let s = s.strip_prefix('-').unwrap_or(s);
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    };
    match format {
        TimeFormat::UnixSeconds => all_digits(text).then(|| text.parse().ok()).flatten(),
        TimeFormat::UnixMillis => all_digits(text)
            .then(|| text.parse::<i64>().ok().map(|ms| ms.div_euclid(1000)))
            .flatten(),
        TimeFormat::Auto if all_digits(text) => {
            let digits = text.trim_start_matches('-').len();
            parse_timestamp(
                text,
                if digits >= 13 {
                    TimeFormat::UnixMillis
                } else {
                    TimeFormat::UnixSeconds
                },
            )
        }
        TimeFormat::Auto => {
            let year_first = text.len() >= 5
                && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && matches!(text.as_bytes()[4], b'-' | b'/' | b'.');
            parse_timestamp(
                text,
                if year_first {
                    TimeFormat::Iso
                } else {
                    TimeFormat::DayMonthYear
                },
            )
        }
        TimeFormat::Iso | TimeFormat::DayMonthYear | TimeFormat::MonthDayYear => {
            parse_date_time(text, format)
        }
    }
}

fn parse_date_time(text: &str, format: TimeFormat) -> Option<i64> {
    let split = text.find(['T', ' ']).unwrap_or(text.len());
    let (date, rest) = text.split_at(split);
    let sep = date.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = date.split(sep).collect();
    let [a, b, c] = parts[..] else { return None };
    let (year, month, day) = match format {
        TimeFormat::Iso => (number(a)?, number(b)?, number(c)?),
        TimeFormat::DayMonthYear => (number(c)?, number(b)?, number(a)?),
        _ => (number(c)?, number(a)?, number(b)?),
    };
    let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let seconds = parse_time_of_day(rest.get(1..).unwrap_or(""))?;
    Some(days_from_civil(year, month, day) * 86_400 + seconds)
}

/// `HH:MM[:SS[.frac]]` with an optional `Z` or `±HH:MM`; empty means midnight.
fn parse_time_of_day(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    let (clock, offset) = if let Some(clock) = text.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(pos) = text.rfind(['+', '-']) {
        let (clock, off) = text.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        (clock, sign * (number(h)? * 3600 + number(m)? * 60))
    } else {
        (text, 0)
    };
    let mut fields = clock.split(':');
    let hours = number(fields.next()?)?;
    let minutes = number(fields.next()?)?;
    let seconds = match fields.next() {
        Some(s) => number(s.split('.').next()?)?,
        None => 0,
    };
    if fields.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn formats_agree_on_the_same_day() {
        let day = 1_437_436_800; // 2015-07-21
        assert_eq!(parse_timestamp("2015-07-21", TimeFormat::Iso), Some(day));
        assert_eq!(parse_timestamp("21/07/2015", TimeFormat::Auto), Some(day));
        assert_eq!(
            parse_timestamp("07.21.2015", TimeFormat::MonthDayYear),
            Some(day)
        );
        assert_eq!(parse_timestamp("1437436800", TimeFormat::Auto), Some(day));
        assert_eq!(
            parse_timestamp("1437436800000", TimeFormat::Auto),
            Some(day)
        );
        assert_eq!(
            parse_timestamp("2015-07-21 02:30:00+01:00", TimeFormat::Auto),
            Some(day + 5400)
        );
    }

    #[test]
    fn rejects_impossible_or_garbled_dates() {
        for bad in [
            "",
            "abc",
            "2015-13-01",
            "29-02-2015",
            "2015-07-21T25:00",
            "1-2",
        ] {
            assert_eq!(parse_timestamp(bad, TimeFormat::Auto), None, "{bad}");
        }
        assert_eq!(
            parse_timestamp("29-02-2016", TimeFormat::Auto),
            Some(1_456_704_000)
        );
    }
}
