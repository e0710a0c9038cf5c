//! Crontab matchers: an expression and an IANA time zone, checked when the
//! skill loads and asked for the next time they fire. The scheduler
//! (`crate::scheduler`) does the waiting; this is only the arithmetic.
//!
//! Five fields (`minute hour day-of-month month day-of-week`), as in a
//! crontab, or six with a leading seconds field (`*/2 * * * * *`: every two
//! seconds). Times are computed in the matcher's zone (UTC when it names
//! none), so `0 9 * * *` in `Europe/Paris` is 09:00 Paris time summer and
//! winter alike; croner moves a time that a DST change skips to the first
//! instant after the gap, and fires once in a repeated hour.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A crontab matcher, parsed.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

impl CronSchedule {
    /// Parses `expression` in `timezone` (UTC when `None`). The error says
    /// what is wrong without the matcher's name, which the caller adds.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<CronSchedule, String> {
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "`{expression}` has {fields} fields; a crontab expression has five \
                 (minute hour day-of-month month day-of-week), or six with seconds first"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| format!("`{expression}` is not a crontab expression: {e}"))?;
        let zone = match timezone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("unknown time zone `{name}` (an IANA name such as `Europe/Paris` or `UTC`)")
            })?,
        };
        Ok(CronSchedule { cron, zone })
    }

    /// The first time this fires strictly after `after`, or `None` if it
    /// never fires again (`0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The zone it computes in.
    pub fn zone(&self) -> Tz {
        self.zone
    }
}

/// Milliseconds since the Unix epoch as a UTC time (the bot's timestamps).
pub fn utc_from_ms(ms: u64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64)
        .single()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn nine_in_paris_is_eight_utc_in_winter_and_seven_in_summer() {
        let s = CronSchedule::parse("0 9 * * *", Some("Europe/Paris")).unwrap();
        assert_eq!(
            s.next_after(utc("2026-01-15T10:00:00Z")),
            Some(utc("2026-01-16T08:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-07-15T06:59:59Z")),
            Some(utc("2026-07-15T07:00:00Z"))
        );
        // Across the spring change (29 March 2026): the day after is at 07:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-03-28T08:00:00Z")),
            Some(utc("2026-03-29T07:00:00Z"))
        );
    }

    #[test]
    fn utc_when_no_zone_and_weekdays_count_in_the_zone() {
        let s = CronSchedule::parse("30 23 * * MON", None).unwrap();
        // Monday 2026-11-23.
        assert_eq!(
            s.next_after(utc("2026-11-23T00:00:00Z")),
            Some(utc("2026-11-23T23:30:00Z"))
        );
        // Monday 00:30 in Tokyo is Sunday 15:30 UTC.
        let tokyo = CronSchedule::parse("30 0 * * 1", Some("Asia/Tokyo")).unwrap();
        assert_eq!(
            tokyo.next_after(utc("2026-11-20T00:00:00Z")),
            Some(utc("2026-11-22T15:30:00Z"))
        );
    }

    #[test]
    fn a_leading_seconds_field_fires_within_the_minute() {
        let s = CronSchedule::parse("*/2 * * * * *", Some("Asia/Kolkata")).unwrap();
        assert_eq!(
            s.next_after(utc("2026-11-23T10:00:01.500Z")),
            Some(utc("2026-11-23T10:00:02Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-11-23T10:00:02Z")),
            Some(utc("2026-11-23T10:00:04Z")),
            "strictly after"
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        let e = CronSchedule::parse("* * * *", None).unwrap_err();
        assert!(e.contains("has 4 fields"), "{e}");
        let e = CronSchedule::parse("0 0 0 * * * 2030", None).unwrap_err();
        assert!(e.contains("has 7 fields"), "{e}");
        let e = CronSchedule::parse("61 * * * *", None).unwrap_err();
        assert!(e.contains("not a crontab expression"), "{e}");
        let e = CronSchedule::parse("0 9 * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(e.contains("unknown time zone `Mars/Olympus`"), "{e}");
    }
}
