//! Interrogation groups: which points answer a group interrogation (QOI
//! 21..36, groups 1..16).
//!
//! The standard leaves the assignment to the station's configuration; here
//! it is a list of IOA ranges, each for one group and one common address
//! or every one, written `GROUP:CASDU:FIRST[-LAST]` (`1:100:1000-1999`,
//! `2:*:5000`). A point may be in several groups; a group without a range
//! answers with no points (ACT_CON, ACT_TERM).

use core::fmt;
use std::str::FromStr;

/// Interrogation groups of QOI 21..36.
pub const GROUPS: core::ops::RangeInclusive<u8> = 1..=16;

/// The largest IOA (three octets).
const MAX_IOA: u32 = 0xFF_FFFF;

/// One range of points assigned to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRange {
    /// Group 1..=16.
    pub group: u8,
    /// Common address; `None` for every served one.
    pub ca: Option<u16>,
    /// First IOA of the range.
    pub first: u32,
    /// Last IOA of the range (inclusive, ≥ `first`).
    pub last: u32,
}

impl GroupRange {
    /// Whether the point (`ca`, `ioa`) is in this range of `group`.
    pub fn contains(&self, group: u8, ca: u16, ioa: u32) -> bool {
        self.group == group
            && self.ca.is_none_or(|c| c == ca)
            && (self.first..=self.last).contains(&ioa)
    }
}

/// Why a group range does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRangeError {
    /// Not `GROUP:CASDU:FIRST[-LAST]`.
    Shape,
    /// The group is not 1..=16.
    Group,
    /// The common address is not 0..=65534 or `*`.
    CommonAddress,
    /// An IOA is not 0..=16777215, or the last is below the first.
    Ioa,
}

impl fmt::Display for GroupRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Shape => "must be GROUP:CASDU:FIRST[-LAST], e.g. 1:100:1000-1999 or 2:*:5000",
            Self::Group => "the group must be in 1..=16",
            Self::CommonAddress => "the common address must be in 0..=65534, or * for every one",
            Self::Ioa => "the IOAs must be in 0..=16777215, the last not below the first",
        })
    }
}

fn decimal<T: FromStr>(s: &str) -> Option<T> {
    let s = s.trim();
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl FromStr for GroupRange {
    type Err = GroupRangeError;

    fn from_str(s: &str) -> Result<Self, GroupRangeError> {
        let mut parts = s.trim().split(':');
        let (Some(group), Some(ca), Some(ioas), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(GroupRangeError::Shape);
        };
        let group: u8 = decimal(group)
            .filter(|g| GROUPS.contains(g))
            .ok_or(GroupRangeError::Group)?;
        let ca = match ca.trim() {
            "*" => None,
            text => Some(
                decimal::<u16>(text)
                    .filter(|&c| c != u16::MAX)
                    .ok_or(GroupRangeError::CommonAddress)?,
            ),
        };
        let (first, last) = ioas.split_once('-').unwrap_or((ioas, ioas));
        let first: u32 = decimal(first)
            .filter(|&i| i <= MAX_IOA)
            .ok_or(GroupRangeError::Ioa)?;
        let last: u32 = decimal(last)
            .filter(|&i| i <= MAX_IOA && i >= first)
            .ok_or(GroupRangeError::Ioa)?;
        Ok(Self {
            group,
            ca,
            first,
            last,
        })
    }
}

impl fmt::Display for GroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.group)?;
        match self.ca {
            Some(ca) => write!(f, "{ca}:")?,
            None => f.write_str("*:")?,
        }
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Every group range of a station.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups(Vec<GroupRange>);

impl Groups {
    /// The ranges given.
    pub fn new(ranges: impl IntoIterator<Item = GroupRange>) -> Self {
        Self(ranges.into_iter().collect())
    }

    /// Whether point (`ca`, `ioa`) belongs to `group`.
    pub fn contains(&self, group: u8, ca: u16, ioa: u32) -> bool {
        self.0.iter().any(|r| r.contains(group, ca, ioa))
    }

    /// Whether no range is assigned.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges.
    pub fn ranges(&self) -> &[GroupRange] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ranges_parse_and_print_back() {
        for text in ["1:100:1000-1999", "16:*:0", "2:0:16777215", "3:65534:5-6"] {
            let r: GroupRange = text.parse().expect(text);
            assert_eq!(r.to_string(), text);
        }
        let r: GroupRange = " 4 : * : 7 - 9 ".parse().expect("spaces");
        assert_eq!((r.group, r.ca, r.first, r.last), (4, None, 7, 9));
    }

    #[test]
    fn bad_group_ranges_say_what_is_wrong() {
        use GroupRangeError::*;
        for (text, err) in [
            ("", Shape),
            ("1:100", Shape),
            ("1:100:5:6", Shape),
            ("0:1:1", Group),
            ("17:1:1", Group),
            ("x:1:1", Group),
            ("1:65535:1", CommonAddress),
            ("1:-1:1", CommonAddress),
            ("1:1:16777216", Ioa),
            ("1:1:9-8", Ioa),
            ("1:1:", Ioa),
            ("1:1:+5", Ioa),
        ] {
            assert_eq!(text.parse::<GroupRange>(), Err(err), "{text:?}");
        }
    }

    #[test]
    fn a_point_is_in_every_group_whose_range_holds_it() {
        let groups = Groups::new(
            ["1:100:10-19", "2:*:15-30", "1:200:0"]
                .iter()
                .map(|t| t.parse().expect("range")),
        );
        assert!(groups.contains(1, 100, 10) && groups.contains(1, 100, 19));
        assert!(!groups.contains(1, 100, 20) && !groups.contains(1, 101, 10));
        assert!(groups.contains(2, 100, 15) && groups.contains(2, 7, 30));
        assert!(groups.contains(1, 200, 0) && !groups.contains(3, 100, 15));
        assert!(Groups::default().is_empty() && !groups.contains(16, 100, 10));
    }
}
