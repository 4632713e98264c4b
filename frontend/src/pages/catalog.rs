use contracts::catalog::{ProductQuery, ProductSort};
use contracts::money::{Currency, Money};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, FieldErrors};
use crate::components::{Empty, ErrorNotice, Loading, ProductGrid};
use crate::format;
use crate::hooks::{Load, mark_once, use_load, use_title};
use crate::route::Route;

/// Products per page.
const PAGE_SIZE: u32 = 12;

/// The currency the price filters are typed in. The filter is in minor units; every currency
/// the shop sells with two decimals reads the same way.
fn filter_currency() -> Currency {
    Currency::parse("USD").expect("USD is a valid code")
}

/// The filter form as typed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Filters {
    q: String,
    category: String,
    min_price: String,
    max_price: String,
    sort: String,
    in_stock: bool,
}

impl Filters {
    fn from_query(query: &ProductQuery) -> Self {
        let amount = |minor: Option<i64>| {
            minor
                .map(|amount| format::amount_input(Money::new(amount, filter_currency())))
                .unwrap_or_default()
        };
        Self {
            q: query.q.clone().unwrap_or_default(),
            category: query.category.clone().unwrap_or_default(),
            min_price: amount(query.min_price),
            max_price: amount(query.max_price),
            sort: query.sort.map(sort_value).unwrap_or_default().to_owned(),
            in_stock: query.in_stock == Some(true),
        }
    }

    fn to_query(&self) -> Result<ProductQuery, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut price = |field: &str, text: &str| {
            if text.trim().is_empty() {
                return None;
            }
            format::parse_amount(text, filter_currency())
                .map_err(|message| errors.add(field, &message))
                .ok()
        };
        let min_price = price("min_price", &self.min_price);
        let max_price = price("max_price", &self.max_price);
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            errors.add("max_price", "Must not be below the minimum.");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(ProductQuery {
            q: text(&self.q),
            category: text(&self.category),
            min_price,
            max_price,
            in_stock: self.in_stock.then_some(true),
            // The home page's featured list is not one of the catalog's filters.
            featured: None,
            sort: SORTS
                .iter()
                .find(|(_, value, _)| *value == self.sort)
                .map(|(sort, _, _)| *sort),
            limit: None,
            cursor: None,
        })
    }
}

const SORTS: [(ProductSort, &str, &str); 4] = [
    (ProductSort::Relevance, "relevance", "Best match"),
    (ProductSort::Newest, "newest", "Newest"),
    (ProductSort::PriceAsc, "price_asc", "Price: low to high"),
    (ProductSort::PriceDesc, "price_desc", "Price: high to low"),
];

fn sort_value(sort: ProductSort) -> &'static str {
    SORTS
        .iter()
        .find(|(s, _, _)| *s == sort)
        .map_or("relevance", |(_, value, _)| value)
}

/// The catalog: search, filters and sort (kept in the URL, so a result can be shared and the
/// back button works), and cursor paging.
#[component]
pub fn Catalog() -> Html {
    use_title("Products");
    let navigator = use_navigator();
    let query = use_location()
        .and_then(|location| location.query::<ProductQuery>().ok())
        .map(|query| ProductQuery {
            limit: None,
            cursor: None,
            ..query
        })
        .unwrap_or_default();

    let filters = use_state(|| Filters::from_query(&query));
    let errors = use_state(FieldErrors::default);
    // The cursors of the pages before the current one, and the current one.
    let cursors = use_state(|| vec![None::<String>]);
    {
        let filters = filters.clone();
        let cursors = cursors.clone();
        let errors = errors.clone();
        use_effect_with(query.clone(), move |query| {
            filters.set(Filters::from_query(query));
            cursors.set(vec![None]);
            errors.set(FieldErrors::default());
        });
    }
    let cursor = cursors.last().cloned().flatten();
    let categories = use_load((), |()| api::categories());
    let results = use_load(
        (query.clone(), cursor.clone()),
        |(query, cursor)| async move {
            api::products(&ProductQuery {
                limit: Some(PAGE_SIZE),
                cursor,
                ..query
            })
            .await
        },
    );
    let has_results = matches!(&*results.state, Load::Ready(page) if !page.items.is_empty());
    use_effect_with(has_results, |ready| {
        if *ready {
            mark_once("catalog-first-render");
        }
    });

    let onsubmit = {
        let filters = filters.clone();
        let errors = errors.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match filters.to_query() {
                Ok(query) => {
                    errors.set(FieldErrors::default());
                    if let Some(navigator) = &navigator {
                        let _ = navigator.push_with_query(&Route::Catalog, &query);
                    }
                }
                Err(found) => errors.set(found),
            }
        })
    };
    let text = |set: fn(&mut Filters, String)| {
        let filters = filters.clone();
        Callback::from(move |e: InputEvent| {
            let mut next = (*filters).clone();
            set(
                &mut next,
                e.target_unchecked_into::<HtmlInputElement>().value(),
            );
            filters.set(next);
        })
    };
    let select = |set: fn(&mut Filters, String)| {
        let filters = filters.clone();
        Callback::from(move |e: Event| {
            let mut next = (*filters).clone();
            set(
                &mut next,
                e.target_unchecked_into::<HtmlSelectElement>().value(),
            );
            filters.set(next);
        })
    };
    let on_stock = {
        let filters = filters.clone();
        Callback::from(move |e: Event| {
            let mut next = (*filters).clone();
            next.in_stock = e.target_unchecked_into::<HtmlInputElement>().checked();
            filters.set(next);
        })
    };

    let category_options = match &*categories.state {
        Load::Ready(list) => list.clone(),
        _ => Vec::new(),
    };
    let price_field = |id: &'static str,
                       label: &'static str,
                       value: &str,
                       oninput: Callback<InputEvent>| {
        let error = errors.get(id);
        html! {
            <div class={classes!("field", error.is_some().then_some("field--invalid"))}>
                <label class="field__label" for={format!("filter-{id}")}>{ label }</label>
                <input id={format!("filter-{id}")} class="field__input" type="text" inputmode="decimal"
                    value={value.to_owned()} {oninput}
                    aria-invalid={if error.is_some() { "true" } else { "false" }}
                    aria-describedby={error.as_ref().map(|_| format!("filter-{id}-error"))} />
                if let Some(error) = error {
                    <p class="field__error" id={format!("filter-{id}-error")}>{ error }</p>
                }
            </div>
        }
    };

    let paging = {
        let previous = (cursors.len() > 1).then(|| {
            let cursors = cursors.clone();
            html! {
                <button type="button" class="button" onclick={move |_| {
                    let mut stack = (*cursors).clone();
                    stack.pop();
                    cursors.set(stack);
                }}>{ "← Previous page" }</button>
            }
        });
        let next = match &*results.state {
            Load::Ready(page) => page.next_cursor.clone().map(|next| {
                let cursors = cursors.clone();
                html! {
                    <button type="button" class="button" onclick={move |_| {
                        let mut stack = (*cursors).clone();
                        stack.push(Some(next.clone()));
                        cursors.set(stack);
                    }}>{ "Next page →" }</button>
                }
            }),
            _ => None,
        };
        html! {
            <nav class="pager" aria-label="Pages">
                { for previous }
                <span class="pager__current">{ format!("Page {}", cursors.len()) }</span>
                { for next }
            </nav>
        }
    };

    let results_view = match &*results.state {
        Load::Loading => html! { <Loading label="Loading products…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={results.reload.clone()} /> }
        }
        Load::Ready(page) if page.items.is_empty() => html! {
            <Empty message="No products match these filters.">
                <p><Link<Route> to={Route::Catalog}>{ "Clear all filters" }</Link<Route>></p>
            </Empty>
        },
        Load::Ready(page) => html! {
            <>
                <p class="results-count" role="status">
                    { format!("{} products on this page", page.items.len()) }
                </p>
                <ProductGrid products={page.items.clone()} />
                { paging }
            </>
        },
    };

    html! {
        <div class="catalog">
            <h1>{ query.q.as_ref().map_or_else(|| "Products".to_owned(), |q| format!("Results for “{q}”")) }</h1>
            <form class="filters" {onsubmit} aria-label="Filter products" novalidate=true>
                <div class="field">
                    <label class="field__label" for="filter-q">{ "Search" }</label>
                    <input id="filter-q" class="field__input" type="search" value={filters.q.clone()}
                        oninput={text(|f, v| f.q = v)} />
                </div>
                <div class="field">
                    <label class="field__label" for="filter-category">{ "Category" }</label>
                    <select id="filter-category" class="field__input" onchange={select(|f, v| f.category = v)}>
                        <option value="" selected={filters.category.is_empty()}>{ "All categories" }</option>
                        { for category_options.iter().map(|c| html! {
                            <option value={c.slug.clone()} selected={filters.category == c.slug}>{ c.name.clone() }</option>
                        }) }
                    </select>
                </div>
                { price_field("min_price", "Min price", &filters.min_price, text(|f, v| f.min_price = v)) }
                { price_field("max_price", "Max price", &filters.max_price, text(|f, v| f.max_price = v)) }
                <div class="field">
                    <label class="field__label" for="filter-sort">{ "Sort by" }</label>
                    <select id="filter-sort" class="field__input" onchange={select(|f, v| f.sort = v)}>
                        { for SORTS.iter().map(|(_, value, label)| html! {
                            <option value={*value} selected={filters.sort == *value || (filters.sort.is_empty() && *value == "relevance")}>{ *label }</option>
                        }) }
                    </select>
                </div>
                <div class="field field--checkbox">
                    <input id="filter-in-stock" type="checkbox" checked={filters.in_stock} onchange={on_stock} />
                    <label for="filter-in-stock">{ "In stock only" }</label>
                </div>
                <p class="filters__actions">
                    <button type="submit" class="button button--primary">{ "Apply" }</button>
                </p>
            </form>
            <section class="catalog__results" aria-label="Products">{ results_view }</section>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_url_query() {
        let query = ProductQuery {
            q: Some("mug".to_owned()),
            category: Some("kitchen".to_owned()),
            min_price: Some(500),
            max_price: Some(2000),
            in_stock: Some(true),
            featured: None,
            sort: Some(ProductSort::PriceAsc),
            limit: None,
            cursor: None,
        };
        let filters = Filters::from_query(&query);
        assert_eq!(filters.min_price, "5.00");
        assert_eq!(filters.sort, "price_asc");
        assert_eq!(filters.to_query(), Ok(query));
        assert_eq!(Filters::default().to_query(), Ok(ProductQuery::default()));
    }

    #[test]
    fn a_bad_price_range_is_named() {
        let filters = Filters {
            min_price: "20".to_owned(),
            max_price: "10".to_owned(),
            ..Filters::default()
        };
        let errors = filters.to_query().expect_err("min above max");
        assert!(errors.get("max_price").is_some());
        let filters = Filters {
            min_price: "ten".to_owned(),
            ..Filters::default()
        };
        assert!(
            filters
                .to_query()
                .expect_err("not a number")
                .get("min_price")
                .is_some()
        );
    }
}
