//! `--path` globs, matched against normalised archive paths.
//!
//! `*` matches within one path segment, `?` one character, `**` any number of whole
//! segments. A glob without `/` matches a name at any depth (`*.xml`, like .gitignore).
//! A glob that matches a directory selects everything below it (`--path dist`).
//!
//! The archive's author chooses the names, thousands of segments deep if they like, so the
//! cost of matching must not depend on how they arrange them (issue 11). A recursive matcher
//! that backtracks over every `**`, run again for every parent directory, took 71 s for one
//! name with three `**`. Here each glob is compiled once into its segments and run as a
//! nondeterministic automaton over the path's segments: the set of glob positions reached so
//! far, advanced once per segment, a `**` both consuming the segment and letting it through.
//! Checking for the accepting position after every segment answers "does this path or one of
//! its parents match" in the same pass, so [`Globs::keep`] costs O(path segments × glob
//! segments) plus the `*` and `?` matching within each segment, which is linear in the
//! segment's length for a given glob: linear in the path's length overall.
//!
//! Hand-written because these rules are a few lines, and globset (considered for issue 11)
//! would bring a regex engine (regex-automata) into a binary that must stay small.

use std::sync::atomic::{AtomicBool, Ordering};

/// The `--path` globs of one fetch, compiled, with which of them matched an entry so far
/// (shared by the fetch's threads and jobs), so that a glob that matched nothing can be
/// named in a warning while the others did their work.
pub struct Globs {
    globs: Vec<Glob>,
    patterns: Vec<String>,
    seen: Vec<AtomicBool>,
}

/// One glob, split into its segments once per fetch rather than once per entry and parent.
#[derive(Debug, PartialEq)]
struct Glob(Vec<Part>);

/// One segment of a glob.
#[derive(Debug, PartialEq)]
enum Part {
    /// `**`: any number of whole segments, including none.
    AnySegments,
    /// One segment's pattern, `*` and `?` within it.
    Name(String),
}

impl Globs {
    pub fn new(patterns: &[String]) -> Globs {
        Globs {
            globs: patterns
                .iter()
                .map(|p| Glob::new(p.trim_start_matches("./").trim_end_matches('/')))
                .collect(),
            patterns: patterns.to_vec(),
            seen: patterns.iter().map(|_| AtomicBool::new(false)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Whether `path` or one of its parent directories matches a glob (or there are none).
    pub fn keep(&self, path: &str) -> bool {
        self.keep_counting(path, &mut 0)
    }

    /// The globs, as given, that have matched no path [`Globs::keep`] was asked about.
    pub fn unmatched(&self) -> Vec<&str> {
        self.patterns
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !seen.load(Ordering::Relaxed))
            .map(|(p, _)| p.as_str())
            .collect()
    }

    /// [`Globs::keep`], adding the work it did to `steps` (see [`Glob::run`]), so that a test
    /// can hold the matcher to its linear bound without timing anything. Once the path is
    /// kept, only globs that have not matched anything yet are still tried (to notice that
    /// they match): the work stays at most one run per glob.
    fn keep_counting(&self, path: &str, steps: &mut u64) -> bool {
        if self.globs.is_empty() {
            return true;
        }
        let mut kept = false;
        for (glob, seen) in self.globs.iter().zip(&self.seen) {
            if kept && seen.load(Ordering::Relaxed) {
                continue;
            }
            if glob.run(path, true, steps) {
                seen.store(true, Ordering::Relaxed);
                kept = true;
            }
        }
        kept
    }
}

/// Whether `path` matches `glob` (exactly, not through a parent directory).
pub fn matches(glob: &str, path: &str) -> bool {
    Glob::new(glob).run(path, false, &mut 0)
}

impl Glob {
    fn new(glob: &str) -> Glob {
        if !glob.contains('/') {
            // A name at any depth is exactly what `**/name` says, so one automaton does both.
            // A bare `**` stays a name pattern here: it matches any last name, as it did.
            return Glob(vec![Part::AnySegments, Part::Name(glob.to_string())]);
        }
        Glob(
            glob.split('/')
                .map(|s| match s {
                    "**" => Part::AnySegments,
                    name => Part::Name(name.to_string()),
                })
                .collect(),
        )
    }

    /// Whether the glob matches `path`, or with `prefixes` any of the paths made of its first
    /// segments (its parent directories), in one pass over the segments.
    ///
    /// `live[i]` says that the first `i` parts of the glob can match the segments read so
    /// far; `live[len]` is a match. `steps` grows by one per glob position looked at per
    /// segment and by [`segment`]'s own work, which is all the work there is.
    fn run(&self, path: &str, prefixes: bool, steps: &mut u64) -> bool {
        let len = self.0.len();
        let mut live = vec![false; len + 1];
        let mut next = vec![false; len + 1];
        live[0] = true;
        self.skip_any(&mut live, steps);
        let mut names = path.split('/').peekable();
        while let Some(name) = names.next() {
            next.fill(false);
            for (i, part) in self.0.iter().enumerate() {
                *steps += 1;
                if live[i] {
                    match part {
                        Part::AnySegments => next[i] = true,
                        Part::Name(p) => next[i + 1] |= segment(p, name, steps),
                    }
                }
            }
            let alive = self.skip_any(&mut next, steps);
            std::mem::swap(&mut live, &mut next);
            if live[len] && (prefixes || names.peek().is_none()) {
                return true;
            }
            if !alive {
                // No position is left, so nothing that starts with these segments matches.
                return false;
            }
        }
        false
    }

    /// A `**` matches no segment too: whatever reaches it also reaches the part after it.
    /// One forward sweep suffices because these moves only go forward. Says whether any
    /// position is live, so that a path the glob has left behind is not read to its end.
    fn skip_any(&self, live: &mut [bool], steps: &mut u64) -> bool {
        let mut alive = false;
        for (i, part) in self.0.iter().enumerate() {
            *steps += 1;
            alive |= live[i];
            if live[i] && *part == Part::AnySegments {
                live[i + 1] = true;
            }
        }
        alive || live[self.0.len()]
    }
}

/// `*` and `?` over a whole string, `/` included: job names (`test *` matches `test 1/3`).
pub fn wildcard(glob: &str, name: &str) -> bool {
    segment(glob, name, &mut 0)
}

/// `*` and `?` within one segment, with backtracking over the last `*`: a later `*` can
/// always absorb what an earlier one would, so O(glob × name) at worst. `steps` grows by
/// one per turn of the loop.
///
/// `?` is one character, not one byte: `r?sum?.pdf` is meant to match `résumé.pdf`, as in
/// a shell. Literal bytes can be compared as bytes (both sides are UTF-8, so a character
/// equals only itself), but `?` and the `*` backtracking move by whole characters so that
/// `n` never lands inside one.
fn segment(glob: &str, name: &str, steps: &mut u64) -> bool {
    let (glob, name) = (glob.as_bytes(), name.as_bytes());
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        *steps += 1;
        if g < glob.len() && glob[g] == b'*' {
            // Before the literal test: a `*` in the glob is a wildcard even where the name
            // has a `*`.
            star = Some((g, n));
            g += 1;
        } else if g < glob.len() && glob[g] == b'?' {
            g += 1;
            n += char_len(name[n]);
        } else if g < glob.len() && glob[g] == name[n] {
            g += 1;
            n += 1;
        } else if let Some((sg, sn)) = star {
            g = sg + 1;
            n = sn + char_len(name[sn]);
            star = Some((sg, n));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

/// The length of the UTF-8 character that starts with byte `lead`: its leading one bits,
/// or 1 for ASCII.
fn char_len(lead: u8) -> usize {
    (lead.leading_ones() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn globs(patterns: &[&str]) -> Globs {
        Globs::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    }

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

    #[test]
    fn double_stars_at_the_start_middle_and_end() {
        // At the start: any depth, the top included.
        assert!(matches("**/x", "x"));
        assert!(matches("**/x", "a/b/x"));
        assert!(!matches("**/x", "a/xx"));
        // In the middle: none or many segments, but whole ones.
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/y/b"));
        assert!(!matches("a/**/b", "ab"));
        assert!(!matches("a/**/b", "a/xb"));
        // At the end: everything below, and the directory itself (no segment).
        assert!(matches("dist/**", "dist"));
        assert!(matches("dist/**", "dist/a/b"));
        assert!(!matches("dist/**", "distx/a"));
        // `**` inside a name is two `*`: one segment only.
        assert!(matches("a/x**/b", "a/xyz/b"));
        assert!(!matches("a/x**/b", "a/x/y/b"));
        // Two in a row are one.
        assert!(matches("a/**/**/b", "a/b"));
        assert!(matches("a/**/**/b", "a/1/2/3/b"));
    }

    #[test]
    fn several_double_stars_in_one_glob() {
        let g = "a/**/b/**/c";
        assert!(matches(g, "a/b/c"));
        assert!(matches(g, "a/1/b/2/3/c"));
        assert!(matches(g, "a/b/b/c/c"));
        assert!(!matches(g, "a/c/b"));
        assert!(!matches(g, "a/b/c/d"));
        assert!(!matches(g, "x/a/b/c"));
        let keep = globs(&[g]);
        assert!(keep.keep("a/1/b/c/d/e"), "a parent matches");
        assert!(!keep.keep("a/1/b/d/e"));
    }

    #[test]
    fn a_name_without_slash_selects_every_directory_of_that_name() {
        let keep = globs(&["lib"]);
        assert!(keep.keep("lib"));
        assert!(keep.keep("lib/a.js"));
        assert!(keep.keep("dist/lib/sub/a.js"));
        assert!(!keep.keep("dist/libs/a.js"));
        assert!(!keep.keep("dist/a/lib.js"));
        let keep = globs(&["*.d"]);
        assert!(keep.keep("etc/conf.d/x/y"));
        assert!(!keep.keep("etc/conf/x.dd"));
        let keep = globs(&["**"]);
        assert!(keep.keep("anything/at/all"));
    }

    #[test]
    fn keep_tries_every_glob_and_every_parent() {
        let keep = globs(&["nothing/**", "./reports/", "*.xml"]);
        assert!(keep.keep("reports/x/y.txt"));
        assert!(keep.keep("deep/down/junit.xml"));
        assert!(!keep.keep("report/x.txt"));
        assert!(keep.keep("nothing/at/all"));
        assert!(!keep.keep("nothingness/at/all"), "parents end at a `/`");
    }

    #[test]
    fn a_question_mark_is_one_character_whatever_its_length_in_utf_8() {
        assert!(matches("?.txt", "ü.txt"));
        assert!(
            !matches("??.txt", "ü.txt"),
            "ü is two bytes but one character"
        );
        assert!(matches("?", "日"));
        assert!(matches("?", "😀"));
        assert!(!matches("?", "日本"));
        assert!(matches("r?sum?.pdf", "résumé.pdf"));
        assert!(matches("*?", "日"));
        assert!(!matches("*??", "日"));
        assert!(matches("*é?", "ééé"));
        assert!(matches("日*語", "日本語"));
        assert!(!matches("日*語", "日本"));
        assert!(globs(&["r?sum?/*"]).keep("résumé/cv/2024.pdf"));
    }

    #[test]
    fn wildcards_in_the_glob_stay_wildcards_against_the_same_characters_in_names() {
        assert!(matches("*", "*a"));
        assert!(matches("*a", "*ba"));
        assert!(matches("dist/*", "dist/*.js"));
        assert!(matches("?", "*"));
        assert!(matches("??", "?a"));
        assert!(!matches("a*", "*a"));
    }

    /// What `*` and `?` mean, by their definition: tries every split, so only for short names.
    fn reference_segment(glob: &[char], name: &[char]) -> bool {
        match glob.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|k| reference_segment(rest, &name[k..])),
            Some(('?', rest)) => !name.is_empty() && reference_segment(rest, &name[1..]),
            Some((c, rest)) => name.first() == Some(c) && reference_segment(rest, &name[1..]),
        }
    }

    /// The single-`*` backtracking over bytes agrees with the definition over characters,
    /// multibyte ones included.
    #[test]
    fn segment_matching_agrees_with_its_definition() {
        let glob = proptest::collection::vec(
            proptest::sample::select(&['a', 'b', 'é', '日', '😀', '*', '?'][..]),
            0..7,
        );
        let name = proptest::collection::vec(
            proptest::sample::select(&['a', 'b', 'é', '日', '😀', '*', '?'][..]),
            0..7,
        );
        let config = Config {
            cases: 4000,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(config)
            .run(&(glob, name), |(glob, name)| {
                let (g, n): (String, String) = (glob.iter().collect(), name.iter().collect());
                prop_assert_eq!(
                    segment(&g, &n, &mut 0),
                    reference_segment(&glob, &name),
                    "{:?} against {:?}",
                    g,
                    n
                );
                Ok(())
            })
            .unwrap();
    }

    /// The worst case of the recursive matcher (issue 11): many `**` that each could start at
    /// almost any segment of a deep name, and no match, so every split has to be tried. The
    /// automaton's work must stay within a small constant of segments × glob segments: it
    /// does about 2.4 of them. The recursive matcher, counted in the same units, passed this
    /// bound at 10 segments and needed 6 × 10^8 steps (1.6 s) at 120, growing like n^6.
    #[test]
    fn matching_work_is_linear_in_the_path_length() {
        let patterns = [
            "**/a/**/b/**/c/**/z",
            "**/a/**/b/**/a/**/b/**/z",
            "a/**/b/**/a/**/z",
        ];
        let glob_segments: u64 = patterns.iter().map(|p| p.split('/').count() as u64).sum();
        let keep = globs(&patterns);
        let deep = vec!["a/b"; 1000].join("/");
        for (path, kept) in [(deep.clone(), false), (format!("{deep}/z"), true)] {
            let components = path.split('/').count() as u64;
            let mut steps = 0;
            assert_eq!(keep.keep_counting(&path, &mut steps), kept);
            let bound = 4 * components * glob_segments;
            assert!(
                steps <= bound,
                "{steps} steps for {components} segments, more than {bound}"
            );
        }
    }

    /// The recursive matcher this module had before issue 11, kept as the reference for what
    /// the globs mean: exponential in the number of `**`, so only for short paths.
    fn reference_matches(glob: &str, path: &str) -> bool {
        let path: Vec<&str> = path.split('/').collect();
        if !glob.contains('/') {
            let name = path.last().unwrap();
            return segment(glob, name, &mut 0);
        }
        reference_segments(&glob.split('/').collect::<Vec<_>>(), &path)
    }

    fn reference_segments(glob: &[&str], path: &[&str]) -> bool {
        match glob.split_first() {
            None => path.is_empty(),
            Some((&"**", rest)) => {
                (0..=path.len()).any(|skip| reference_segments(rest, &path[skip..]))
            }
            Some((first, rest)) => {
                !path.is_empty()
                    && segment(first, path[0], &mut 0)
                    && reference_segments(rest, &path[1..])
            }
        }
    }

    /// The old `keep`: the reference matcher on the path and on every `/`-prefix of it.
    fn reference_keep(patterns: &[&str], path: &str) -> bool {
        let patterns: Vec<&str> = patterns
            .iter()
            .map(|p| p.trim_start_matches("./").trim_end_matches('/'))
            .collect();
        patterns.is_empty()
            || std::iter::once(path)
                .chain(path.match_indices('/').map(|(i, _)| &path[..i]))
                .any(|p| patterns.iter().any(|g| reference_matches(g, p)))
    }

    fn joined(parts: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(parts), 1..=max)
            .prop_map(|v| v.join("/"))
    }

    /// Random globs and paths over a small alphabet (empty segments, `./` and trailing `/`
    /// included) mean what they meant before issue 11, for `matches` and for `keep`.
    #[test]
    fn the_automaton_agrees_with_the_recursive_matcher() {
        let glob = (
            proptest::sample::select(&["", "./"][..]),
            joined(&["a", "b", "*", "?", "**", "**", "a*", "*b", "", "x?"], 5),
            proptest::sample::select(&["", "/"][..]),
        )
            .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
        let path = joined(&["a", "b", "ab", "ba", "xa", "", "b"], 7);
        let case = (proptest::collection::vec(glob, 0..=3), path);
        let config = Config {
            cases: 2000,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(config)
            .run(&case, |(patterns, path)| {
                let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
                prop_assert_eq!(globs(&refs).keep(&path), reference_keep(&refs, &path));
                for p in &refs {
                    prop_assert_eq!(matches(p, &path), reference_matches(p, &path));
                }
                Ok(())
            })
            .unwrap();
    }
}
