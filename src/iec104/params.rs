//! The protocol parameters of IEC 60870-5-104 (§5.2, §5.5): the timeouts
//! t0..t3 and the windows k and w.
//!
//! Data flow: configuration builds a [`Params`], [`Params::validate`] checks
//! it against the ranges of the standard (whole seconds) and returns
//! warnings for settings that are legal but discouraged; the link engine
//! ([`super::link`]) and the drivers ([`super::driver`]) then use the
//! durations as they are.

use core::fmt;
use std::time::Duration;

/// Timeouts and windows of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Time-out of connection establishment.
    pub t0: Duration,
    /// Time-out of send or test APDUs: an unacknowledged I-frame or an
    /// unanswered U act closes the connection after t1.
    pub t1: Duration,
    /// Time-out for acknowledges when there is no data message (t2 < t1).
    pub t2: Duration,
    /// Time-out for sending test frames when nothing is received.
    pub t3: Duration,
    /// Maximum number of unacknowledged sent I-frames.
    pub k: u16,
    /// Latest acknowledge after receiving w I-frames.
    pub w: u16,
}

impl Default for Params {
    /// The defaults of the standard: t0 30 s, t1 15 s, t2 10 s, t3 20 s,
    /// k 12, w 8.
    fn default() -> Self {
        Self {
            t0: Duration::from_secs(30),
            t1: Duration::from_secs(15),
            t2: Duration::from_secs(10),
            t3: Duration::from_secs(20),
            k: 12,
            w: 8,
        }
    }
}

/// Range of t0, t1 and t2 in seconds.
pub const T0_T1_T2_RANGE_S: (u64, u64) = (1, 255);
/// Range of t3 in seconds (1 s to 48 h).
pub const T3_RANGE_S: (u64, u64) = (1, 48 * 3600);
/// Range of k and w.
pub const WINDOW_RANGE: (u16, u16) = (1, 32767);

/// A parameter outside the standard's ranges or relations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// A parameter outside its range.
    OutOfRange {
        /// Parameter name (`t0`, `t1`, `t2`, `t3`, `k`, `w`).
        name: &'static str,
        /// The value given, in whole `unit`s.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// `"s"` for timeouts, `""` for the windows.
        unit: &'static str,
    },
    /// t2 must be less than t1 (seconds).
    T2NotLessThanT1 {
        /// t2 in seconds.
        t2: u64,
        /// t1 in seconds.
        t1: u64,
    },
    /// w must not exceed k.
    WGreaterThanK {
        /// w.
        w: u16,
        /// k.
        k: u16,
    },
}

struct WithUnit(u64, &'static str);

impl fmt::Display for WithUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1.is_empty() {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{} {}", self.0, self.1)
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfRange {
                name,
                value,
                min,
                max,
                unit,
            } => write!(
                f,
                "{name} = {} is out of range {min}..={}",
                WithUnit(value, unit),
                WithUnit(max, unit)
            ),
            Self::T2NotLessThanT1 { t2, t1 } => {
                write!(f, "t2 = {t2} s must be less than t1 = {t1} s")
            }
            Self::WGreaterThanK { w, k } => write!(f, "w = {w} must not exceed k = {k}"),
        }
    }
}

impl std::error::Error for ParamError {}

/// A legal setting the standard advises against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParamWarning {
    /// w is more than two thirds of k.
    #[error("w = {w} is more than two thirds of k = {k}; the standard recommends w <= 2k/3")]
    WAboveTwoThirdsOfK {
        /// w.
        w: u16,
        /// k.
        k: u16,
    },
}

fn check_range(
    name: &'static str,
    value: u64,
    (min, max): (u64, u64),
    unit: &'static str,
) -> Result<(), ParamError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ParamError::OutOfRange {
            name,
            value,
            min,
            max,
            unit,
        })
    }
}

impl Params {
    /// Checks every parameter against the standard on whole seconds; `Ok`
    /// carries the warnings for legal but discouraged settings.
    pub fn validate(&self) -> Result<Vec<ParamWarning>, ParamError> {
        let t1 = self.t1.as_secs();
        let t2 = self.t2.as_secs();
        check_range("t0", self.t0.as_secs(), T0_T1_T2_RANGE_S, "s")?;
        check_range("t1", t1, T0_T1_T2_RANGE_S, "s")?;
        check_range("t2", t2, T0_T1_T2_RANGE_S, "s")?;
        check_range("t3", self.t3.as_secs(), T3_RANGE_S, "s")?;
        let window = (u64::from(WINDOW_RANGE.0), u64::from(WINDOW_RANGE.1));
        check_range("k", u64::from(self.k), window, "")?;
        check_range("w", u64::from(self.w), window, "")?;
        if t2 >= t1 {
            return Err(ParamError::T2NotLessThanT1 { t2, t1 });
        }
        if self.w > self.k {
            return Err(ParamError::WGreaterThanK {
                w: self.w,
                k: self.k,
            });
        }
        let mut warnings = Vec::new();
        if 3 * u32::from(self.w) > 2 * u32::from(self.k) {
            warnings.push(ParamWarning::WAboveTwoThirdsOfK {
                w: self.w,
                k: self.k,
            });
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults_are_the_standards_and_valid() {
        let p = Params::default();
        assert_eq!(
            (p.t0, p.t1, p.t2, p.t3, p.k, p.w),
            (secs(30), secs(15), secs(10), secs(20), 12, 8)
        );
        assert_eq!(p.validate(), Ok(vec![]));
    }

    #[test]
    fn t0_out_of_range_is_an_error() {
        let p = Params {
            t0: secs(0),
            ..Params::default()
        };
        assert_eq!(
            p.validate(),
            Err(ParamError::OutOfRange {
                name: "t0",
                value: 0,
                min: 1,
                max: 255,
                unit: "s"
            })
        );
    }

    #[test]
    fn t1_out_of_range_is_an_error_naming_value_and_range() {
        let p = Params {
            t1: secs(300),
            ..Params::default()
        };
        let err = p.validate().unwrap_err();
        assert_eq!(
            err,
            ParamError::OutOfRange {
                name: "t1",
                value: 300,
                min: 1,
                max: 255,
                unit: "s"
            }
        );
        assert_eq!(err.to_string(), "t1 = 300 s is out of range 1..=255 s");
    }

    #[test]
    fn sub_second_t2_counts_as_zero_seconds() {
        let p = Params {
            t2: Duration::from_millis(500),
            ..Params::default()
        };
        assert_eq!(
            p.validate(),
            Err(ParamError::OutOfRange {
                name: "t2",
                value: 0,
                min: 1,
                max: 255,
                unit: "s"
            })
        );
    }

    #[test]
    fn t3_above_48_hours_is_an_error() {
        let p = Params {
            t3: secs(48 * 3600 + 1),
            ..Params::default()
        };
        assert_eq!(
            p.validate(),
            Err(ParamError::OutOfRange {
                name: "t3",
                value: 172_801,
                min: 1,
                max: 172_800,
                unit: "s"
            })
        );
        let max = Params {
            t3: secs(48 * 3600),
            ..Params::default()
        };
        assert_eq!(max.validate(), Ok(vec![]));
    }

    #[test]
    fn k_zero_is_an_error_without_unit() {
        let p = Params {
            k: 0,
            ..Params::default()
        };
        let err = p.validate().unwrap_err();
        assert_eq!(
            err,
            ParamError::OutOfRange {
                name: "k",
                value: 0,
                min: 1,
                max: 32767,
                unit: ""
            }
        );
        assert_eq!(err.to_string(), "k = 0 is out of range 1..=32767");
    }

    #[test]
    fn w_above_32767_is_an_error() {
        let p = Params {
            w: 32768,
            k: 32767,
            ..Params::default()
        };
        assert_eq!(
            p.validate(),
            Err(ParamError::OutOfRange {
                name: "w",
                value: 32768,
                min: 1,
                max: 32767,
                unit: ""
            })
        );
    }

    #[test]
    fn t2_not_less_than_t1_is_an_error() {
        let p = Params {
            t1: secs(10),
            t2: secs(10),
            ..Params::default()
        };
        let err = p.validate().unwrap_err();
        assert_eq!(err, ParamError::T2NotLessThanT1 { t2: 10, t1: 10 });
        assert_eq!(err.to_string(), "t2 = 10 s must be less than t1 = 10 s");
    }

    #[test]
    fn w_greater_than_k_is_an_error() {
        let p = Params {
            k: 8,
            w: 9,
            ..Params::default()
        };
        let err = p.validate().unwrap_err();
        assert_eq!(err, ParamError::WGreaterThanK { w: 9, k: 8 });
        assert_eq!(err.to_string(), "w = 9 must not exceed k = 8");
    }

    #[test]
    fn w_above_two_thirds_of_k_is_a_warning() {
        let p = Params {
            k: 12,
            w: 9,
            ..Params::default()
        };
        assert_eq!(
            p.validate(),
            Ok(vec![ParamWarning::WAboveTwoThirdsOfK { w: 9, k: 12 }])
        );
        let at_limit = Params {
            k: 12,
            w: 8,
            ..Params::default()
        };
        assert_eq!(at_limit.validate(), Ok(vec![]));
    }
}
