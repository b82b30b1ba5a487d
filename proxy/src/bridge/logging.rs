//! `logging/setLevel` shared by the sessions of one server: the levels the sessions asked for, and the level
//! the server was last set to (see the [bridge's documentation](super) for the rules).

use std::collections::HashMap;

/// An MCP log level (RFC 5424 severities), ordered from the most verbose (`Debug`) to the least
/// (`Emergency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `alert`
    Alert,
    /// `emergency`
    Emergency,
}

impl LogLevel {
    /// Every level, most verbose first.
    pub const ALL: [LogLevel; 8] = [
        Self::Debug,
        Self::Info,
        Self::Notice,
        Self::Warning,
        Self::Error,
        Self::Critical,
        Self::Alert,
        Self::Emergency,
    ];

    /// The level named `name` (the MCP spelling, e.g. `warning`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The MCP spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }
}

/// The sessions' levels and the server's.
#[derive(Debug, Default)]
pub(super) struct LogLevels {
    by_session: HashMap<String, LogLevel>,
    /// What the server was last set to successfully (`None`: never, its own default).
    server: Option<LogLevel>,
}

impl LogLevels {
    /// The level to send the server so that `session` gets `level`: the most verbose of `level` and the
    /// other sessions' levels. `None` when the server already has it (the request is answered locally).
    pub fn target_for(&self, session: &str, level: LogLevel) -> Option<LogLevel> {
        let effective = self
            .by_session
            .iter()
            .filter(|(s, _)| s.as_str() != session)
            .map(|(_, l)| *l)
            .fold(level, Ord::min);
        (self.server != Some(effective)).then_some(effective)
    }

    /// The level to send the server after sessions left: the most verbose level of those left, `None` when it
    /// is the server's already or no session has a level (the server keeps its last level).
    pub fn target(&self) -> Option<LogLevel> {
        let effective = self.by_session.values().copied().min()?;
        (self.server != Some(effective)).then_some(effective)
    }

    /// Records the level a session asked for.
    pub fn set(&mut self, session: &str, level: LogLevel) {
        self.by_session.insert(session.to_owned(), level);
    }

    /// Records the level the server accepted.
    pub fn set_server(&mut self, level: LogLevel) {
        self.server = Some(level);
    }

    /// Forgets a session's level.
    pub fn remove(&mut self, session: &str) {
        self.by_session.remove(session);
    }

    /// Whether a `notifications/message` at `level` goes to `session`: it does when the session set no
    /// level, when the message's level is unknown, or when it is at least the session's level.
    pub fn admits(&self, session: &str, level: Option<LogLevel>) -> bool {
        match (self.by_session.get(session), level) {
            (Some(min), Some(level)) => level >= *min,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_rfc_5424_order() {
        let names: Vec<_> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            names,
            [
                "debug",
                "info",
                "notice",
                "warning",
                "error",
                "critical",
                "alert",
                "emergency"
            ]
        );
        assert!(LogLevel::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(LogLevel::parse("notice"), Some(LogLevel::Notice));
        assert_eq!(LogLevel::parse("WARNING"), None);
        assert_eq!(LogLevel::parse("warn"), None);
    }

    #[test]
    fn the_server_gets_the_most_verbose_level() {
        let mut l = LogLevels::default();
        assert_eq!(l.target_for("a", LogLevel::Error), Some(LogLevel::Error));
        l.set("a", LogLevel::Error);
        l.set_server(LogLevel::Error);
        // Less verbose than the server's, or the same: nothing to send.
        assert_eq!(l.target_for("b", LogLevel::Critical), None);
        assert_eq!(l.target_for("b", LogLevel::Error), None);
        l.set("b", LogLevel::Critical);
        assert_eq!(l.target_for("c", LogLevel::Debug), Some(LogLevel::Debug));
        l.set("c", LogLevel::Debug);
        l.set_server(LogLevel::Debug);
        // The most verbose session becomes less verbose: the next one wins.
        assert_eq!(l.target_for("c", LogLevel::Alert), Some(LogLevel::Error));
        // It leaves instead.
        l.remove("c");
        assert_eq!(l.target(), Some(LogLevel::Error));
        l.set_server(LogLevel::Error);
        l.remove("b");
        assert_eq!(l.target(), None);
        l.remove("a");
        assert_eq!(l.target(), None, "the server keeps its level");
    }

    #[test]
    fn messages_are_filtered_by_each_sessions_level() {
        let mut l = LogLevels::default();
        l.set("a", LogLevel::Warning);
        assert!(l.admits("a", Some(LogLevel::Warning)));
        assert!(l.admits("a", Some(LogLevel::Emergency)));
        assert!(!l.admits("a", Some(LogLevel::Info)));
        assert!(l.admits("a", None));
        assert!(l.admits("b", Some(LogLevel::Debug)));
    }
}
