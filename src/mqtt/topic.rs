//! MQTT topic filters and an index over them.
//!
//! A filter is checked as the MQTT specification (3.1.1 section 4.7, 5.0
//! section 4.7) requires: not empty, at most 65535 bytes, no NUL, `+` only
//! as a whole level, `#` only as the whole last level. A shared
//! subscription `$share/GROUP/FILTER` is accepted (GROUP not empty, without
//! `/`, `+` or `#`); for matching, only FILTER counts. A filter starting
//! with a wildcard does not match a topic starting with `$`.
//!
//! [`TopicIndex`] is a trie over topic levels: finding the entries of a
//! topic walks the topic's levels (following the literal level, `+` and
//! `#` at each), so its cost grows with the topic's depth and the matches,
//! not with the number of filters.

use std::collections::HashMap;

/// A checked topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    /// As configured (with any `$share/GROUP/` prefix): what is subscribed.
    pub subscription: String,
    /// The shared subscription's group, if any.
    pub share_group: Option<String>,
    /// The filter proper, matched against topics.
    pub filter: String,
}

impl TopicFilter {
    /// Checks a filter; the error says what is wrong and what is allowed.
    pub fn parse(s: &str) -> Result<TopicFilter, String> {
        let (share_group, filter) = match s.strip_prefix("$share/") {
            Some(rest) => {
                let Some((group, filter)) = rest.split_once('/') else {
                    return Err(format!(
                        "`{s}`: a shared subscription is `$share/GROUP/FILTER`"
                    ));
                };
                if group.is_empty() || group.contains(['+', '#']) {
                    return Err(format!(
                        "`{s}`: the share group must be non-empty, without `+`, `#` or `/`"
                    ));
                }
                (Some(group.to_string()), filter)
            }
            None => (None, s),
        };
        check_filter(filter).map_err(|e| format!("`{s}`: {e}"))?;
        Ok(TopicFilter {
            subscription: s.to_string(),
            share_group,
            filter: filter.to_string(),
        })
    }

    /// Whether a topic matches this filter.
    pub fn matches(&self, topic: &str) -> bool {
        let mut levels = topic.split('/');
        let dollar = topic.starts_with('$');
        for (i, f) in self.filter.split('/').enumerate() {
            if i == 0 && dollar && (f == "+" || f == "#") {
                return false;
            }
            if f == "#" {
                return true;
            }
            match levels.next() {
                Some(level) if f == "+" || f == level => {}
                _ => return false,
            }
        }
        levels.next().is_none()
    }
}

fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("a topic filter must not be empty".into());
    }
    if filter.len() > 65535 {
        return Err("a topic filter is at most 65535 bytes".into());
    }
    if filter.contains('\0') {
        return Err("a topic filter must not contain NUL".into());
    }
    let count = filter.split('/').count();
    for (i, level) in filter.split('/').enumerate() {
        if level.contains('#') && (level != "#" || i + 1 != count) {
            return Err("`#` is allowed only as the whole last level".into());
        }
        if level.contains('+') && level != "+" {
            return Err("`+` is allowed only as a whole level".into());
        }
    }
    Ok(())
}

/// Entries (e.g. mapping indices) keyed by topic filter, found by topic
/// through a trie over the filters' levels.
#[derive(Debug, Clone)]
pub struct TopicIndex<T> {
    root: Node<T>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Node<T> {
    literal: HashMap<String, Node<T>>,
    plus: Option<Box<Node<T>>>,
    /// Entries whose filter ends here with `#`.
    hash: Vec<T>,
    /// Entries whose filter ends here.
    here: Vec<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: HashMap::new(),
            plus: None,
            hash: Vec::new(),
            here: Vec::new(),
        }
    }
}

impl<T> Default for TopicIndex<T> {
    fn default() -> Self {
        TopicIndex {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<T> TopicIndex<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries inserted.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an entry under a checked filter.
    pub fn insert(&mut self, filter: &TopicFilter, entry: T) {
        let mut node = &mut self.root;
        for level in filter.filter.split('/') {
            if level == "#" {
                node.hash.push(entry);
                self.len += 1;
                return;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Box::default)
            } else {
                node.literal.entry(level.to_string()).or_default()
            };
        }
        node.here.push(entry);
        self.len += 1;
    }

    /// The entries whose filter matches `topic` (each once per insertion).
    pub fn find(&self, topic: &str) -> Vec<&T> {
        let mut out = Vec::new();
        let levels: Vec<&str> = topic.split('/').collect();
        let dollar = topic.starts_with('$');
        walk(&self.root, &levels, dollar, &mut out);
        out
    }
}

fn walk<'a, T>(node: &'a Node<T>, levels: &[&str], dollar_first: bool, out: &mut Vec<&'a T>) {
    // `#` also matches the parent level ("a/#" matches "a").
    if !dollar_first {
        out.extend(node.hash.iter());
    }
    let Some((first, rest)) = levels.split_first() else {
        out.extend(node.here.iter());
        return;
    };
    if let Some(next) = node.literal.get(*first) {
        walk(next, rest, false, out);
    }
    if !dollar_first && let Some(next) = &node.plus {
        walk(next, rest, false, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_as_the_mqtt_specification_says() {
        for good in [
            "a",
            "a/b/c",
            "+",
            "#",
            "a/+/c",
            "a/#",
            "+/+/#",
            "/",
            "a//b",
            "$share/g1/a/+/c",
            "$SYS/#",
        ] {
            assert!(TopicFilter::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a/#/c",
            "a#",
            "a/b#",
            "a+",
            "a/+b/c",
            "a\0b",
            "$share/g1",
            "$share//a",
            "$share/g+/a",
            "$share/g/",
        ] {
            assert!(TopicFilter::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TopicFilter::parse(&"a".repeat(65536)).is_err());
    }

    #[test]
    fn a_shared_subscription_matches_by_its_filter_and_keeps_its_group() {
        let f = TopicFilter::parse("$share/ingest/sensors/+/climate").unwrap();
        assert_eq!(f.share_group.as_deref(), Some("ingest"));
        assert_eq!(f.filter, "sensors/+/climate");
        assert_eq!(f.subscription, "$share/ingest/sensors/+/climate");
        assert!(f.matches("sensors/ts-17/climate"));
    }

    #[test]
    fn wildcards_match_as_the_mqtt_specification_says() {
        let table = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+", "a", false),
            ("a/+", "a/", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("#", "a/b", true),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("+/+", "/x", true),
            ("a/b/c", "a/b", false),
        ];
        for (filter, topic, expected) in table {
            let f = TopicFilter::parse(filter).unwrap();
            assert_eq!(f.matches(topic), expected, "{filter} vs {topic}");
            let mut index = TopicIndex::new();
            index.insert(&f, ());
            assert_eq!(
                index.find(topic).len(),
                usize::from(expected),
                "index: {filter} vs {topic}"
            );
        }
    }

    #[test]
    fn the_index_finds_exactly_the_entries_a_scan_of_all_filters_finds() {
        let filters: Vec<TopicFilter> = [
            "s/+/climate",
            "s/ts-17/climate",
            "s/#",
            "#",
            "s/+/+",
            "other/x",
            "+/ts-17/#",
        ]
        .iter()
        .map(|f| TopicFilter::parse(f).unwrap())
        .collect();
        let mut index = TopicIndex::new();
        for (i, f) in filters.iter().enumerate() {
            index.insert(f, i);
        }
        assert_eq!(index.len(), filters.len());
        for topic in [
            "s/ts-17/climate",
            "s/a/climate",
            "s",
            "other/x",
            "x/ts-17",
            "$x/ts-17/a",
        ] {
            let mut found: Vec<usize> = index.find(topic).into_iter().copied().collect();
            found.sort_unstable();
            let scanned: Vec<usize> = (0..filters.len())
                .filter(|&i| filters[i].matches(topic))
                .collect();
            assert_eq!(found, scanned, "{topic}");
        }
    }

    #[test]
    fn ten_thousand_filters_are_indexed_and_a_topic_finds_only_its_own() {
        let mut index = TopicIndex::new();
        for i in 0..10_000 {
            let f = TopicFilter::parse(&format!("site/{i}/+/climate")).unwrap();
            index.insert(&f, i);
        }
        assert_eq!(index.find("site/4711/ts-1/climate"), vec![&4711]);
        assert!(index.find("site/4711/ts-1/door").is_empty());
    }
}
