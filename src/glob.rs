//! `--path` globs, matched against normalised archive paths.
//!
//! `*` matches within one path segment, `?` one character, `**` any number of whole
//! segments. A glob without `/` matches a name at any depth (`*.xml`, like .gitignore).
//! A glob that matches a directory selects everything below it (`--path dist`).
//! Hand-written because these rules are a few lines, and globset would bring a regex engine
//! into a binary that must stay small.

pub struct Globs(Vec<String>);

impl Globs {
    pub fn new(patterns: &[String]) -> Globs {
        Globs(
            patterns
                .iter()
                .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_string())
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `path` or one of its parent directories matches a glob (or there are none).
    pub fn keep(&self, path: &str) -> bool {
        self.0.is_empty()
            || std::iter::once(path)
                .chain(path.match_indices('/').map(|(i, _)| &path[..i]))
                .any(|p| self.0.iter().any(|g| matches(g, p)))
    }
}

/// Whether `path` matches `glob`.
pub fn matches(glob: &str, path: &str) -> bool {
    let path: Vec<&str> = path.split('/').collect();
    if !glob.contains('/') {
        return path
            .last()
            .is_some_and(|name| segment(glob.as_bytes(), name.as_bytes()));
    }
    let glob: Vec<&str> = glob.split('/').collect();
    segments(&glob, &path)
}

fn segments(glob: &[&str], path: &[&str]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments(rest, &path[skip..])),
        Some((first, rest)) => {
            !path.is_empty()
                && segment(first.as_bytes(), path[0].as_bytes())
                && segments(rest, &path[1..])
        }
    }
}

/// `*` and `?` within one segment, with backtracking over the last `*`.
fn segment(glob: &[u8], name: &[u8]) -> bool {
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if g < glob.len() && (glob[g] == b'?' || glob[g] == name[n]) {
            g += 1;
            n += 1;
        } else if g < glob.len() && glob[g] == b'*' {
            star = Some((g, n));
            g += 1;
        } else if let Some((sg, sn)) = star {
            g = sg + 1;
            n = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_ci_engineer_expects() {
        assert!(matches("*.xml", "reports/junit.xml"));
        assert!(matches("*.xml", "junit.xml"));
        assert!(!matches("*.xml", "reports/junit.xml.gz"));
        assert!(matches("dist/**", "dist/lib/util.js"));
        assert!(matches("dist/*.js", "dist/a.js"));
        assert!(!matches("dist/*.js", "dist/lib/a.js"));
        assert!(matches("**/util.js", "dist/lib/util.js"));
        assert!(matches("d?st/a*b*c", "dist/aXbYc"));
        assert!(!matches("dist/a", "dist/ab"));
    }

    #[test]
    fn a_matching_directory_selects_its_contents() {
        let globs = Globs::new(&["dist/".to_string()]);
        assert!(globs.keep("dist/lib/util.js"));
        assert!(!globs.keep("reports/junit.xml"));
        assert!(Globs::new(&[]).keep("anything"));
    }
}
