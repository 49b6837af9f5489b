//! Following `NextToken` from the first page to the last, for every listing
//! (ListBots, ListAccounts), with one guard against an API that hands out
//! tokens without end: a token seen twice, or more pages than a cap, stops
//! the listing with an error instead of looping.

use std::collections::HashSet;
use std::future::Future;

use super::error::ApiError;
use super::limits::{ApiLimits, Priority};

/// Whether a listing wants the pages after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum More {
    /// Every page.
    All,
    /// What was wanted is found: stop here.
    Enough,
}

/// Why a listing stopped before its last page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// A page failed (or its content was refused by `take`).
    Api(ApiError),
    /// The API's tokens do not lead to a last page.
    Looping(&'static str),
}

/// Requests page after page: `send` makes the request for a page (given the
/// token of the one before, `None` for the first), `take` reads what a page
/// holds (and says whether more pages are wanted) and `next` its
/// `NextToken`. The listing holds one concurrency slot
/// from its first page to its last (see [`ApiLimits::slot`]); each page
/// waits for its own rate permit.
///
/// Either every page is taken, or an error: a page that fails in the middle
/// fails the listing, so a half list is never taken for the whole.
pub(crate) async fn paginate<P, Fut>(
    limits: &ApiLimits,
    priority: Priority,
    max_pages: usize,
    mut send: impl FnMut(Option<String>) -> Fut,
    mut take: impl FnMut(&P) -> Result<More, ApiError>,
    next: impl Fn(&P) -> Option<&str>,
) -> Result<(), PageError>
where
    Fut: Future<Output = Result<P, ApiError>>,
{
    let mut seen: HashSet<String> = HashSet::new();
    let mut token: Option<String> = None;
    let _slot = limits.slot(priority).await;
    for _ in 0..max_pages {
        let request = token.take();
        let page = limits
            .run_in_slot(|| send(request))
            .await
            .map_err(PageError::Api)?;
        if take(&page).map_err(PageError::Api)? == More::Enough {
            return Ok(());
        }
        match next(&page) {
            Some(t) if !t.is_empty() => {
                if !seen.insert(t.to_owned()) {
                    return Err(PageError::Looping(
                        "the API returned a NextToken it had returned before",
                    ));
                }
                token = Some(t.to_owned());
            }
            _ => return Ok(()),
        }
    }
    Err(PageError::Looping(
        "more pages than the page cap; the API keeps returning NextToken",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorKind, Operation};

    /// A fake listing: `pages[i]` is (items, next token).
    async fn run(pages: &[(u32, Option<&str>)], cap: usize) -> (Result<(), PageError>, Vec<u32>) {
        let limits = ApiLimits::new(1, 1000.0);
        let mut taken = Vec::new();
        let mut calls = 0usize;
        let result = paginate(
            &limits,
            Priority::First,
            cap,
            |token: Option<String>| {
                let index = calls;
                calls += 1;
                let expected = index.checked_sub(1).and_then(|i| pages[i].1);
                let page = pages.get(index).copied();
                async move {
                    assert_eq!(
                        token.as_deref(),
                        expected,
                        "page {index} asked with its token"
                    );
                    page.ok_or(ApiError {
                        operation: Operation::ListBots,
                        kind: ErrorKind::Other,
                        message: "no such page".into(),
                    })
                }
            },
            |page: &(u32, Option<&str>)| {
                taken.push(page.0);
                Ok(if page.0 == 99 {
                    More::Enough
                } else {
                    More::All
                })
            },
            |page| page.1,
        )
        .await;
        (result, taken)
    }

    #[tokio::test]
    async fn follows_tokens_to_the_last_page() {
        let (r, taken) = run(&[(1, Some("a")), (2, Some("b")), (3, None)], 10).await;
        assert!(r.is_ok());
        assert_eq!(taken, [1, 2, 3]);
        let (r, taken) = run(&[(7, Some(""))], 10).await;
        assert!(r.is_ok(), "an empty token ends the listing");
        assert_eq!(taken, [7]);
        let (r, taken) = run(&[(1, Some("a")), (99, Some("b")), (3, None)], 10).await;
        assert!(r.is_ok(), "enough ends the listing");
        assert_eq!(taken, [1, 99]);
    }

    #[tokio::test]
    async fn a_repeated_token_or_too_many_pages_stop_the_listing() {
        let (r, _) = run(&[(1, Some("a")), (2, Some("b")), (3, Some("a"))], 10).await;
        assert!(matches!(r, Err(PageError::Looping(m)) if m.contains("before")));
        let (r, taken) = run(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))], 2).await;
        assert!(matches!(r, Err(PageError::Looping(m)) if m.contains("cap")));
        assert_eq!(taken, [1, 2]);
    }
}
