//! Binary time tags: CP56Time2a (7 octets, date and time to the
//! millisecond), CP24Time2a (3 octets, minutes and milliseconds) and
//! CP16Time2a (2 octets, milliseconds, used for elapsed times).
//!
//! The tags keep their octets as received, reserved bits included, and
//! expose the fields through accessors. A tag has no time zone: conversion to
//! and from Unix time is done here in UTC; a caller that reads tags in another
//! zone shifts the result. Conversion checks every field (a minute of 61 is an
//! error naming the field), so a malformed tag from the network never turns
//! into a wrong instant.

use std::fmt;

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
        let days = unix_ms.div_euclid(86_400_000);
        let ms_of_day = unix_ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        if !(2000..=2099).contains(&year) {
            return Err(TimeError::Unrepresentable { unix_ms });
        }
        // 1970-01-01 was a Thursday (4); 1 Monday ..= 7 Sunday.
        let weekday = (days + 3).rem_euclid(7) + 1;
        let minute_of_day = ms_of_day / 60_000;
        Ok(Cp56Time2a::from_fields(Cp56Fields {
            millisecond: narrow(ms_of_day % 60_000),
            minute: narrow(minute_of_day % 60),
            hour: narrow(minute_of_day / 60),
            day: narrow(day),
            weekday: narrow(weekday),
            month: narrow(month),
            year: narrow(year - 2000),
            invalid: false,
            summer_time: false,
        }))
    }

    /// The Unix instant in milliseconds, reading the tag as UTC. Every field
    /// is checked; IV, SU, RES bits and the weekday do not take part.
    pub fn to_unix_ms(&self) -> Result<i64, TimeError> {
        let f = self.fields();
        check("millisecond", f.millisecond, 0, 59_999)?;
        check("minute", f.minute.into(), 0, 59)?;
        check("hour", f.hour.into(), 0, 23)?;
        check("month", f.month.into(), 1, 12)?;
        let year = 2000 + i64::from(f.year);
        let dim = days_in_month(year, f.month.into());
        check("day", f.day.into(), 1, dim)?;
        let days = days_from_civil(year, f.month.into(), f.day.into());
        Ok(days * 86_400_000
            + i64::from(f.hour) * 3_600_000
            + i64::from(f.minute) * 60_000
            + i64::from(f.millisecond))
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

/// A Unix instant in milliseconds as RFC 3339 UTC with milliseconds,
/// e.g. `2026-11-21T09:15:30.123Z`.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms = unix_ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Unix ms of a UTC date and time, `None` when a field is out of range
/// (a leap second 60 is read as 59.999 + 1 ms, i.e. the next minute).
pub fn unix_ms_from_utc(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millisecond: i64,
) -> Option<i64> {
    let month_u16 = u16::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let valid = (1..=i64::from(days_in_month(year, month_u16))).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second)
        && (0..1000).contains(&millisecond);
    valid.then(|| {
        days_from_civil(year, month, day) * 86_400_000
            + hour * 3_600_000
            + minute * 60_000
            + second * 1000
            + millisecond
    })
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

/// Narrows a value the caller has bounded to a small range.
fn narrow<T: TryFrom<i64> + Default>(v: i64) -> T {
    T::try_from(v).unwrap_or_default()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u16) -> u16 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

    proptest! {
        #[test]
        fn cp56_unix_roundtrip(ms in 946_684_800_000i64..4_102_444_800_000i64) {
            let t = Cp56Time2a::from_unix_ms(ms).expect("in range");
            prop_assert_eq!(t.to_unix_ms(), Ok(ms));
        }
    }
}
