//! GitLab's offset pagination (lib/gitlab/pagination/offset_pagination.rb and
//! offset_header_builder.rb, with Kaminari underneath): `page` and `per_page`, the `X-*`
//! headers and the `Link` header, with or without the totals.
//!
//! The jobs list is paginated `without_count` (no `X-Total`, `X-Total-Pages`, nor
//! `rel="last"`: counting a project's builds is too slow), the pipeline's jobs and bridges
//! with counts, as their routes call `paginate(…)` plainly.

use std::collections::BTreeMap;

use super::invalid_param;
use crate::http::{Request, Response};

/// `use :pagination`'s default `per_page`.
const DEFAULT_PER_PAGE: i64 = 20;
/// Kaminari's `max_per_page` in GitLab (config/initializers/kaminari_config.rb).
const MAX_PER_PAGE: i64 = 100;

/// The page asked for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    /// 1-based; `page` 0 or below is page 1, as Kaminari takes it.
    pub number: usize,
    /// Rows per page: `per_page` capped at 100; below 1 (which Kaminari would turn into
    /// empty pages or ignore) the default, 20.
    pub size: usize,
    /// `per_page` as given (coerced to an integer), which the `Link` URLs repeat verbatim.
    per_page_param: i64,
}

/// `page` and `per_page`, Grape `Integer`s: anything but an integer is 400
/// `{"error":"page is invalid"}` (or `per_page`).
pub(super) fn page_params(req: &Request) -> Result<Page, Response> {
    let int = |name: &str, default: i64| -> Result<i64, Response> {
        match req.query_param(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| invalid_param(&format!("{name} is invalid"))),
        }
    };
    let page = int("page", 1)?;
    let per_page = int("per_page", DEFAULT_PER_PAGE)?;
    let size = if per_page < 1 {
        DEFAULT_PER_PAGE
    } else {
        per_page.min(MAX_PER_PAGE)
    };
    Ok(Page {
        number: usize::try_from(page.max(1)).unwrap_or(usize::MAX),
        size: size as usize,
        per_page_param: per_page,
    })
}

/// A parameter value as Rails' `Hash#to_query` writes it.
#[derive(Debug, Clone)]
enum Value {
    One(String),
    Many(Vec<String>),
}

/// The request's parameters as the route sees them (Grape's `params`: the query, the route's
/// path parameters and the declared parameters' defaults and coerced values), from which the
/// `Link` URLs are written. GitLab writes them all back, even `job_token`.
#[derive(Debug, Clone)]
pub(super) struct Params(BTreeMap<String, Value>);

impl Params {
    /// The query as Rack parses it: `key[]` (and `key[N]`) collect, a plain key keeps its last
    /// value.
    pub fn from_query(req: &Request) -> Params {
        let mut map = BTreeMap::new();
        for (k, v) in &req.query {
            match k.split_once('[').filter(|(_, rest)| rest.ends_with(']')) {
                Some((base, _)) => match map
                    .entry(base.to_string())
                    .or_insert_with(|| Value::Many(Vec::new()))
                {
                    Value::Many(vs) => vs.push(v.clone()),
                    one => *one = Value::Many(vec![v.clone()]),
                },
                None => {
                    map.insert(k.clone(), Value::One(v.clone()));
                }
            }
        }
        Params(map)
    }

    /// Sets a parameter to one value (a path parameter, a default, a coerced value).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_string(), Value::One(value.into()));
    }

    /// Sets a parameter to an array (the coerced `scope`).
    pub fn set_many(&mut self, key: &str, values: &[String]) {
        self.0.insert(key.to_string(), Value::Many(values.to_vec()));
    }

    /// Rails' `to_query`: each pair `CGI.escape`d, arrays as `key[]=…` in their order, the
    /// pieces sorted.
    fn to_query(&self) -> String {
        let mut parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| match v {
                Value::One(v) => format!("{}={}", cgi_escape(k), cgi_escape(v)),
                Value::Many(vs) => {
                    let key = cgi_escape(&format!("{k}[]"));
                    let items: Vec<String> = vs
                        .iter()
                        .map(|v| format!("{key}={}", cgi_escape(v)))
                        .collect();
                    items.join("&")
                }
            })
            .collect();
        parts.sort();
        parts.join("&")
    }
}

/// Ruby's `CGI.escape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
fn cgi_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One page of `all` and its headers, in GitLab's order: `X-Per-Page`, `X-Page`,
/// `X-Next-Page`, `X-Prev-Page` (empty when there is none), `Link` (`prev`, `next`, `first`,
/// and `last` only `with_totals`), then with totals `X-Total` and `X-Total-Pages` (at least
/// 1). A page past the end is empty and has neither a next nor a previous page, as
/// Kaminari's `out_of_range?` makes it. `url` is the request's URL on the server's own base
/// (GitLab's configured host, not the request's `Host`), without its query.
pub(super) fn paginate<T>(
    all: Vec<T>,
    page: Page,
    with_totals: bool,
    url: &str,
    params: &Params,
) -> (Vec<T>, Vec<(String, String)>) {
    let total = all.len();
    let start = page.number.saturating_sub(1).saturating_mul(page.size);
    let has_more = total > start.saturating_add(page.size);
    let items: Vec<T> = all.into_iter().skip(start).take(page.size).collect();
    let out_of_range = items.is_empty();
    let next = (has_more && !out_of_range).then(|| page.number + 1);
    let prev = (page.number > 1 && !out_of_range).then(|| page.number - 1);
    let total_pages = total.div_ceil(page.size).max(1);

    let href = |n: usize| {
        let mut p = params.clone();
        p.set("page", n.to_string());
        p.set("per_page", page.per_page_param.to_string());
        format!("{url}?{}", p.to_query())
    };
    let mut links = Vec::new();
    if let Some(p) = prev {
        links.push(format!("<{}>; rel=\"prev\"", href(p)));
    }
    if let Some(n) = next {
        links.push(format!("<{}>; rel=\"next\"", href(n)));
    }
    links.push(format!("<{}>; rel=\"first\"", href(1)));
    if with_totals {
        links.push(format!("<{}>; rel=\"last\"", href(total_pages)));
    }

    let opt = |n: Option<usize>| n.map_or(String::new(), |n| n.to_string());
    let mut headers = vec![
        ("X-Per-Page".to_string(), page.size.to_string()),
        ("X-Page".to_string(), page.number.to_string()),
        ("X-Next-Page".to_string(), opt(next)),
        ("X-Prev-Page".to_string(), opt(prev)),
        ("Link".to_string(), links.join(", ")),
    ];
    if with_totals {
        headers.push(("X-Total".to_string(), total.to_string()));
        headers.push(("X-Total-Pages".to_string(), total_pages.to_string()));
    }
    (items, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params(BTreeMap::new());
        for (k, v) in pairs {
            p.set(k, *v);
        }
        p
    }

    fn page(number: usize, size: usize) -> Page {
        Page {
            number,
            size,
            per_page_param: size as i64,
        }
    }

    #[test]
    fn writes_queries_like_rails() {
        let mut p = params(&[("id", "group/sub/my.project"), ("job", "test 1/3")]);
        p.set_many("scope", &["success".into(), "failed".into()]);
        assert_eq!(
            p.to_query(),
            "id=group%2Fsub%2Fmy.project&job=test+1%2F3&scope%5B%5D=success&scope%5B%5D=failed"
        );
    }

    #[test]
    fn pages_with_and_without_totals() {
        let url = "http://h/api/v4/projects/2/jobs";
        let p = params(&[("id", "2")]);
        let header = |hs: &[(String, String)], k: &str| {
            hs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        let (items, hs) = paginate((1..=5).collect(), page(2, 2), false, url, &p);
        assert_eq!(items, vec![3, 4]);
        assert_eq!(header(&hs, "X-Next-Page").as_deref(), Some("3"));
        assert_eq!(header(&hs, "X-Prev-Page").as_deref(), Some("1"));
        assert_eq!(header(&hs, "X-Total"), None);
        assert_eq!(
            header(&hs, "Link").as_deref(),
            Some(
                "<http://h/api/v4/projects/2/jobs?id=2&page=1&per_page=2>; rel=\"prev\", \
                 <http://h/api/v4/projects/2/jobs?id=2&page=3&per_page=2>; rel=\"next\", \
                 <http://h/api/v4/projects/2/jobs?id=2&page=1&per_page=2>; rel=\"first\""
            )
        );
        let (items, hs) = paginate((1..=5).collect(), page(3, 2), true, url, &p);
        assert_eq!(items, vec![5]);
        assert_eq!(header(&hs, "X-Next-Page").as_deref(), Some(""));
        assert_eq!(header(&hs, "X-Total").as_deref(), Some("5"));
        assert_eq!(header(&hs, "X-Total-Pages").as_deref(), Some("3"));
        let (items, hs) = paginate((1..=5).collect::<Vec<i32>>(), page(9, 2), true, url, &p);
        assert!(items.is_empty());
        assert_eq!(header(&hs, "X-Prev-Page").as_deref(), Some(""));
        let (_, hs) = paginate(Vec::<i32>::new(), page(1, 20), true, url, &p);
        assert_eq!(header(&hs, "X-Total-Pages").as_deref(), Some("1"));
    }
}
