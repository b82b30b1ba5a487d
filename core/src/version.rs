//! Version strings: the official registry's rules for what may be published, and its `isLatest` ordering.
//!
//! Versions are free-form (≤ 255 characters), but `latest` is reserved and ranges are refused. Ordering:
//! two semantic versions compare numerically (a release beats its prereleases; prereleases compare as plain
//! strings, as upstream does); a semantic version beats a non-semantic one; two non-semantic versions are
//! ordered by publish time.

use std::cmp::Ordering;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;

/// Longest version string accepted.
pub const MAX_VERSION_LEN: usize = 255;

static COMPARATOR_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:\^|~|>=|<=|>|<|=)\s*v?\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z.-]+)?\s*$").unwrap()
});
static HYPHEN_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*v?\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z.-]+)?\s+-\s+v?\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z.-]+)?\s*$").unwrap()
});
static WILDCARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*v?(?:\d+|[xX*])(?:\.(?:\d+|[xX*])){0,3}\s*$").unwrap());
/// A prerelease as upstream's `IsSemanticVersion` takes it: it splits the version on every `-` and wants at most
/// two parts, so a prerelease holds no `-` (`1.0.0-alpha-beta` is not semantic: its test "multiple hyphens").
static PRERELEASE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9.]+$").unwrap());

/// Why a version string cannot be published, in the official registry's words; `None` when it is acceptable.
pub fn version_error(version: &str) -> Option<String> {
    if version.trim().is_empty() {
        return Some("version is required".into());
    }
    if version.len() > MAX_VERSION_LEN {
        return Some(format!(
            "version must be at most {MAX_VERSION_LEN} characters"
        ));
    }
    if version == "latest" {
        return Some("version string 'latest' is reserved and cannot be used".into());
    }
    if looks_like_range(version) {
        return Some("version must be a specific version, not a range".into());
    }
    None
}

/// True for `^1.2.3`, `>=1.0`, `1.0.0 - 2.0.0`, `1.0 || 2.0`, `1.x`, `1.2.*` and the like.
pub fn looks_like_range(version: &str) -> bool {
    if COMPARATOR_RANGE.is_match(version)
        || HYPHEN_RANGE.is_match(version)
        || version.contains("||")
    {
        return true;
    }
    WILDCARD.is_match(version) && version.chars().any(|c| matches!(c, 'x' | 'X' | '*'))
}

/// A version as upstream's `IsSemanticVersion` sees it: `MAJOR.MINOR.PATCH[-PRERELEASE]`, the prerelease of
/// letters, digits and dots only (build metadata, or a second `-`, makes a version non-semantic, as upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer<'a> {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub prerelease: Option<&'a str>,
}

impl<'a> SemVer<'a> {
    pub fn parse(version: &'a str) -> Option<Self> {
        let (core, prerelease) = match version.split_once('-') {
            Some((core, pre)) => {
                if pre.is_empty() || !PRERELEASE.is_match(pre) {
                    return None;
                }
                (core, Some(pre))
            }
            None => (version, None),
        };
        let mut parts = core.split('.');
        let mut next = || -> Option<u64> {
            let p = parts.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let (major, minor, patch) = (next()?, next()?, next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            major,
            minor,
            patch,
            prerelease,
        })
    }
}

impl Ord for SemVer<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.prerelease, other.prerelease) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for SemVer<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub fn is_semantic_version(version: &str) -> bool {
    SemVer::parse(version).is_some()
}

/// Upstream's `CompareVersions`: which of two versions is the later one, given when each was published.
pub fn compare_versions(
    a: &str,
    b: &str,
    published_a: DateTime<Utc>,
    published_b: DateTime<Utc>,
) -> Ordering {
    match (SemVer::parse(a), SemVer::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => published_a.cmp(&published_b),
    }
}

/// A candidate for the `isLatest` flag.
pub trait VersionCandidate {
    fn version(&self) -> &str;
    fn published_at(&self) -> DateTime<Utc>;
    fn is_deleted(&self) -> bool;
}

/// Upstream's `recalculateLatest`: the highest non-deleted version, or — when every version is deleted — the
/// highest deleted one. Returns the index of the winner.
pub fn pick_latest<C: VersionCandidate>(candidates: &[C]) -> Option<usize> {
    let best_of = |deleted: bool| {
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_deleted() == deleted)
            .max_by(|(_, a), (_, b)| {
                compare_versions(a.version(), b.version(), a.published_at(), b.published_at())
            })
            .map(|(i, _)| i)
    };
    best_of(false).or_else(|| best_of(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn reserved_and_range_versions_are_refused() {
        assert!(version_error("latest").unwrap().contains("reserved"));
        for r in [
            "^1.2.3",
            "~1.2",
            ">=1.0.0",
            "<2",
            "=1.0.0",
            "1.0.0 - 2.0.0",
            "1.0 || 2.0",
            "1.x",
            "1.2.*",
            "1.X",
            "*",
        ] {
            assert_eq!(
                version_error(r).as_deref(),
                Some("version must be a specific version, not a range"),
                "{r}"
            );
        }
        for ok in [
            "1.0.0",
            "v1.2",
            "2024.01.05",
            "1.0.0-beta.1",
            "1.0.0+build",
            "abc",
            "1.0.0-x",
        ] {
            assert_eq!(version_error(ok), None, "{ok}");
        }
        assert!(version_error(&"1".repeat(256)).unwrap().contains("255"));
        assert!(version_error("  ").is_some());
    }

    #[test]
    fn semver_detection_matches_upstream() {
        assert!(is_semantic_version("1.2.3"));
        assert!(is_semantic_version("1.2.3-rc.1"));
        assert!(!is_semantic_version("1.2"));
        assert!(!is_semantic_version("1.2.3.4"));
        assert!(!is_semantic_version("v1.2.3"));
        assert!(!is_semantic_version("1.2.3+build"));
        assert!(!is_semantic_version("1.2.3-"));
        // Upstream splits on every hyphen: a second one makes the version non-semantic.
        assert!(!is_semantic_version("1.0.0-alpha-beta"));
        assert!(!is_semantic_version("1.0.0-pre-release"));
        assert!(!is_semantic_version("1.0.0--"));
        assert!(is_semantic_version("1.0.0-beta.2.3"));
        assert!(is_semantic_version("2021.03.05"));
        assert!(!is_semantic_version("1.0.0-alpha@1"));
    }

    #[test]
    fn several_hyphens_lose_to_any_semantic_version() {
        use Ordering::*;
        assert_eq!(
            compare_versions("1.0.0-alpha-beta", "0.9.0", t(9), t(0)),
            Less
        );
        assert_eq!(
            compare_versions("1.0.0-alpha-beta", "1.0.0-alpha-gamma", t(0), t(1)),
            Less,
            "two non-semantic versions: the later publish wins"
        );
    }

    #[test]
    fn ordering_rules() {
        use Ordering::*;
        assert_eq!(compare_versions("1.0.0", "0.0.51", t(0), t(1)), Greater);
        assert_eq!(compare_versions("10.0.0", "2.0.0", t(0), t(1)), Greater);
        assert_eq!(compare_versions("1.0.0", "1.0.0-rc.1", t(0), t(1)), Greater);
        assert_eq!(
            compare_versions("1.0.0-beta", "1.0.0-alpha", t(0), t(1)),
            Greater
        );
        assert_eq!(compare_versions("snapshot", "1.0.0", t(9), t(0)), Less);
        assert_eq!(compare_versions("b", "a", t(0), t(1)), Less);
        assert_eq!(compare_versions("a", "b", t(2), t(1)), Greater);
    }

    struct C(&'static str, i64, bool);
    impl VersionCandidate for C {
        fn version(&self) -> &str {
            self.0
        }
        fn published_at(&self) -> DateTime<Utc> {
            t(self.1)
        }
        fn is_deleted(&self) -> bool {
            self.2
        }
    }

    #[test]
    fn latest_skips_deleted_unless_all_are() {
        assert_eq!(
            pick_latest(&[
                C("1.0.0", 0, false),
                C("2.0.0", 1, true),
                C("1.5.0", 2, false)
            ]),
            Some(2)
        );
        assert_eq!(
            pick_latest(&[C("1.0.0", 0, true), C("2.0.0", 1, true)]),
            Some(1)
        );
        assert_eq!(pick_latest::<C>(&[]), None);
    }
}
