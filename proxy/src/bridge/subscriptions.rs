//! `resources/subscribe` shared by the sessions of one server: which sessions are subscribed to which URI
//! (see the [bridge's documentation](super) for the rules).

use std::collections::{HashMap, HashSet};

/// The subscribed sessions, by URI. A URI is in the table only while it has a subscriber.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    by_uri: HashMap<String, HashSet<String>>,
}

impl Subscriptions {
    /// Whether `session` is subscribed to `uri`, and whether other sessions are.
    pub fn holders(&self, uri: &str, session: &str) -> (bool, bool) {
        match self.by_uri.get(uri) {
            Some(sessions) => {
                let held = sessions.contains(session);
                (held, sessions.len() > usize::from(held))
            }
            None => (false, false),
        }
    }

    /// Subscribes `session` to `uri`; `true` when the URI had no subscriber before (the server must be told).
    pub fn add(&mut self, uri: &str, session: &str) -> bool {
        let sessions = self.by_uri.entry(uri.to_owned()).or_default();
        let first = sessions.is_empty();
        sessions.insert(session.to_owned());
        first
    }

    /// Unsubscribes `session` from `uri`; `true` when it was the last subscriber (the server must be told).
    pub fn remove(&mut self, uri: &str, session: &str) -> bool {
        let Some(sessions) = self.by_uri.get_mut(uri) else {
            return false;
        };
        if !sessions.remove(session) {
            return false;
        }
        let last = sessions.is_empty();
        if last {
            self.by_uri.remove(uri);
        }
        last
    }

    /// Unsubscribes `session` from everything; returns the URIs left without a subscriber.
    pub fn remove_session(&mut self, session: &str) -> Vec<String> {
        let mut freed = Vec::new();
        self.by_uri.retain(|uri, sessions| {
            if sessions.remove(session) && sessions.is_empty() {
                freed.push(uri.clone());
            }
            !sessions.is_empty()
        });
        freed.sort();
        freed
    }

    /// The sessions a `notifications/resources/updated` for `uri` goes to: those subscribed to `uri` itself or
    /// to a resource it is a sub-resource of (a subscribed URI followed by `/`, `?` or `#`, or one ending with
    /// `/`), as the notification may name a sub-resource of the one subscribed to.
    pub fn subscribers(&self, uri: &str) -> HashSet<String> {
        self.by_uri
            .iter()
            .filter(|(subscribed, _)| covers(subscribed, uri))
            .flat_map(|(_, sessions)| sessions.iter().cloned())
            .collect()
    }

    /// Whether the table is empty.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.by_uri.is_empty()
    }
}

/// Whether an update of `updated` concerns a subscription to `subscribed`.
fn covers(subscribed: &str, updated: &str) -> bool {
    match updated.strip_prefix(subscribed) {
        Some("") => true,
        Some(rest) => subscribed.ends_with('/') || rest.starts_with(['/', '?', '#']),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_counted_per_uri() {
        let mut s = Subscriptions::default();
        assert!(s.add("file:///a", "s1"));
        assert!(!s.add("file:///a", "s2"));
        assert!(!s.add("file:///a", "s1"), "again: not the first");
        assert!(s.add("file:///b", "s2"));
        assert_eq!(s.holders("file:///a", "s1"), (true, true));
        assert_eq!(s.holders("file:///b", "s1"), (false, true));
        assert_eq!(s.holders("file:///c", "s1"), (false, false));
        assert!(!s.remove("file:///a", "s1"));
        assert!(!s.remove("file:///a", "s1"), "not subscribed anymore");
        assert_eq!(s.holders("file:///a", "s2"), (true, false));
        assert_eq!(s.remove_session("s2"), ["file:///a", "file:///b"]);
        assert!(s.is_empty());
    }

    #[test]
    fn updates_reach_subscribers_of_the_uri_and_of_its_parents() {
        let mut s = Subscriptions::default();
        s.add("file:///dir", "parent");
        s.add("file:///dir/a", "exact");
        s.add("file:///dirx", "other");
        s.add("mem://", "root");
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        assert_eq!(s.subscribers("file:///dir/a"), set(&["parent", "exact"]));
        assert_eq!(s.subscribers("file:///dir"), set(&["parent"]));
        assert_eq!(s.subscribers("file:///dirx"), set(&["other"]));
        assert_eq!(s.subscribers("mem://x"), set(&["root"]));
        assert!(s.subscribers("file:///elsewhere").is_empty());
    }
}
