//! Name globs for `--name` and `--exclude`: `*` matches any run of characters (`/` included), `?` exactly one
//! character; everything else matches itself, case-sensitively (server names are case-sensitive). No crate: a
//! two-pointer matcher with backtracking to the last `*`, linear in practice.

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `--name` (include) and `--exclude` globs: a name passes when it matches any include glob (or there is
/// none) and no exclude glob.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl NameFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        Self {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
        }
    }

    pub fn accepts(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| matches(g, name)))
            && !self.exclude.iter().any(|g| matches(g, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("com.example/*", "com.example/a"));
        assert!(matches("com.example/*", "com.example/"));
        assert!(!matches("com.example/*", "com.examples/a"));
        assert!(matches("*", ""));
        assert!(matches("*/fetch", "io.github.stacklok/fetch"));
        assert!(matches("io.github.*/git*", "io.github.stacklok/github"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!matches("*a*b*c", "xxaxxbxxcxx"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "Exact"));
        assert!(matches("**x", "abx"));
        assert!(matches("ü?", "üß"));
        let f = NameFilter::new(&["com.*".into()], &["*/bad*".into()]);
        assert!(f.accepts("com.x/good"));
        assert!(!f.accepts("com.x/bad1"));
        assert!(!f.accepts("org.x/good"));
        assert!(NameFilter::default().accepts("anything"));
    }
}
