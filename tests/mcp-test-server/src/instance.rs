//! Who this server process is: its pid and a random id drawn at start, so that tests can tell a restarted server
//! from the one they talked to before (a new container may reuse the same pid).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub pid: u32,
    pub id: String,
}

impl Instance {
    /// The identity of the running process. The id mixes the process's randomly seeded hasher keys (the OS's
    /// random source) with the start time.
    pub fn current() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let id = RandomState::new().hash_one(nanos);
        Self {
            pid: std::process::id(),
            id: format!("{id:016x}"),
        }
    }

    /// The `whoami` tool's answer: `{"pid":123,"instance":"0123456789abcdef"}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "pid": self.pid, "instance": self.id }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_between_draws_and_carry_the_pid() {
        let (a, b) = (Instance::current(), Instance::current());
        assert_ne!(a.id, b.id);
        assert_eq!(a.pid, std::process::id());
        let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(json["instance"], a.id.as_str());
        assert_eq!(json["pid"], a.pid);
    }
}
