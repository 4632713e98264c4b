//! Hooks shared by the pages: loading data and naming the page.

use std::future::Future;

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::api::{ApiError, ApiResult};

/// Data that is being fetched.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    /// The request is in flight.
    Loading,
    /// The data arrived.
    Ready(T),
    /// The request failed.
    Failed(ApiError),
}

impl<T> From<ApiResult<T>> for Load<T> {
    fn from(result: ApiResult<T>) -> Self {
        match result {
            Ok(value) => Self::Ready(value),
            Err(error) => Self::Failed(error),
        }
    }
}

/// The state of a fetch and a way to run it again.
#[derive(Debug)]
pub struct Loader<T: 'static> {
    /// Where the fetch is; set it to show a change made locally (after a save).
    pub state: UseStateHandle<Load<T>>,
    /// Fetches again (after an error, or after a change elsewhere).
    pub reload: Callback<()>,
}

/// Fetches with `load(deps)` on first render and whenever `deps` change. An answer that
/// arrives after a newer fetch started is dropped, so typing fast in a search box cannot show
/// the results of an older query last.
#[hook]
pub fn use_load<T, D, F, Fut>(deps: D, load: F) -> Loader<T>
where
    T: 'static,
    D: PartialEq + Clone + 'static,
    F: FnOnce(D) -> Fut + 'static,
    Fut: Future<Output = ApiResult<T>> + 'static,
{
    let state = use_state(|| Load::Loading);
    let generation = use_mut_ref(|| 0_u64);
    let attempt = use_state(|| 0_u32);
    {
        let state = state.clone();
        use_effect_with((deps, *attempt), move |(deps, _)| {
            *generation.borrow_mut() += 1;
            let mine = *generation.borrow();
            state.set(Load::Loading);
            let fetch = load(deps.clone());
            spawn_local(async move {
                let result = fetch.await;
                if *generation.borrow() == mine {
                    state.set(result.into());
                }
            });
        });
    }
    let reload = Callback::from(move |()| attempt.set(attempt.wrapping_add(1)));
    Loader { state, reload }
}

/// Sets the document's title to `NAME · Shop`, so tabs, history and screen readers name the page.
#[hook]
pub fn use_title(name: &str) {
    let title = format!("{name} · Shop");
    use_effect_with(title, |title| {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(title);
        }
    });
}

/// Records a named moment in the page's performance timeline, once per page load; the
/// report script reads `catalog-first-render` to measure how fast the catalog appears.
pub fn mark_once(name: &'static str) {
    thread_local! {
        static MARKED: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let first = MARKED.with(|marked| {
        let mut marked = marked.borrow_mut();
        let first = !marked.contains(&name);
        if first {
            marked.push(name);
        }
        first
    });
    if first && let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// A list fetched page by page ("Load more").
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// The items of every page fetched so far.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` after the last.
    pub next: Option<String>,
    /// Whether the next page is being fetched.
    pub loading_more: bool,
    /// Why fetching the next page failed.
    pub more_error: Option<ApiError>,
}

/// The state of a [`use_pages`] list and what can be done with it.
#[derive(Debug)]
pub struct Pages<T: 'static> {
    /// The first page's fetch, then the growing list; set it to show a local change.
    pub state: UseStateHandle<Load<Listing<T>>>,
    /// Fetches the next page and appends it.
    pub load_more: Callback<()>,
    /// Starts again from the first page.
    pub reload: Callback<()>,
}

/// Fetches the first page with `fetch(deps, None)` on first render and whenever `deps` change,
/// and the following pages with the previous page's cursor on `load_more`.
#[hook]
pub fn use_pages<T, D, F, Fut>(deps: D, fetch: F) -> Pages<T>
where
    T: Clone + 'static,
    D: PartialEq + Clone + 'static,
    F: Fn(D, Option<String>) -> Fut + 'static,
    Fut: Future<Output = ApiResult<contracts::pagination::Page<T>>> + 'static,
{
    let fetch = std::rc::Rc::new(fetch);
    let first = {
        let fetch = fetch.clone();
        use_load(deps.clone(), move |deps| async move {
            fetch(deps, None).await.map(|page| Listing {
                items: page.items,
                next: page.next_cursor,
                loading_more: false,
                more_error: None,
            })
        })
    };
    let load_more = {
        let state = first.state.clone();
        Callback::from(move |()| {
            let Load::Ready(listing) = (*state).clone() else {
                return;
            };
            let Some(cursor) = listing.next.clone() else {
                return;
            };
            state.set(Load::Ready(Listing {
                loading_more: true,
                more_error: None,
                ..listing.clone()
            }));
            let state = state.clone();
            let page = fetch(deps.clone(), Some(cursor));
            spawn_local(async move {
                let mut listing = listing;
                listing.loading_more = false;
                match page.await {
                    Ok(page) => {
                        listing.items.extend(page.items);
                        listing.next = page.next_cursor;
                    }
                    Err(error) => listing.more_error = Some(error),
                }
                state.set(Load::Ready(listing));
            });
        })
    };
    Pages {
        state: first.state,
        load_more,
        reload: first.reload,
    }
}
