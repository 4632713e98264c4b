//! Search: ranking, typo tolerance, filters, sorts and cursor pagination.

use std::collections::HashSet;

use contracts::catalog::Product;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, fields, names, problem, product_body};

/// Creates a product named `name` with `description`.
async fn product(app: &TestApp, category: Uuid, name: &str, description: &str, price: i64) {
    let mut body = product_body(name, category, price, 5);
    body["description"] = json!(description);
    app.create_product(&body).await;
}

#[tokio::test]
async fn an_exact_name_match_ranks_first_and_names_weigh_more_than_descriptions() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await.id;
    product(
        &app,
        category,
        "Mechanical Keyboard",
        "A keyboard for keyboard lovers: the best keyboard among keyboards.",
        9900,
    )
    .await;
    product(&app, category, "Desk Mat", "Fits under a keyboard.", 1900).await;
    product(&app, category, "Keyboard", "Plain and simple.", 2900).await;
    product(
        &app,
        category,
        "Wireless Mouse",
        "Pairs with a laptop.",
        2900,
    )
    .await;

    let page = app.search("q=keyboard").await;
    assert_eq!(
        names(&page),
        ["Keyboard", "Mechanical Keyboard", "Desk Mat"]
    );
    let page = app.search("q=KEYBOARD&sort=relevance").await;
    assert_eq!(names(&page)[0], "Keyboard", "exact match ignores case");
    let page = app.search("q=mechanical%20keyboard").await;
    assert_eq!(names(&page), ["Mechanical Keyboard"]);
}

#[tokio::test]
async fn a_typo_still_finds_keyboards() {
    let app = TestApp::spawn().await;
    let category = app.create_category("peripherals", None).await.id;
    product(
        &app,
        category,
        "Arcwell K2 Mechanical Keyboard",
        "Brown switches.",
        8900,
    )
    .await;
    product(
        &app,
        category,
        "Northkey Slim Keyboard",
        "Quiet keys.",
        4900,
    )
    .await;
    product(
        &app,
        category,
        "Lumen Gaming Mouse",
        "Light and fast.",
        6900,
    )
    .await;
    product(&app, category, "Vantage 27 Monitor", "4K panel.", 44900).await;

    for typo in ["keybaord", "keyborad", "keybord"] {
        let page = app.search(&format!("q={typo}")).await;
        let mut found = names(&page);
        found.sort();
        assert_eq!(
            found,
            ["Arcwell K2 Mechanical Keyboard", "Northkey Slim Keyboard"],
            "{typo}"
        );
    }
    let page = app.search("q=lumen%20gamng%20mose").await;
    assert_eq!(
        names(&page),
        ["Lumen Gaming Mouse"],
        "every word is corrected"
    );
    let nothing = app.search("q=zzzzqqq").await;
    assert_eq!(nothing, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn a_typo_within_the_shop_search_budget_is_forgiven() {
    let app = TestApp::spawn().await;
    let category = app.create_category("apparel", None).await.id;
    product(&app, category, "Linen Long Sleeve Shirt", "Breathes.", 3900).await;
    product(&app, category, "Selected Wool Scarf", "Warm.", 2900).await;
    product(&app, category, "Studio Headphones", "Closed back.", 12900).await;

    // One edit in a word of 5 to 8 letters, a swap of neighbours included: "seleve" shares too
    // few trigrams with "sleeve" for similarity alone, and "selected" is nearer by trigrams.
    for typo in ["Seleve", "sleve", "sleeev"] {
        assert_eq!(
            names(&app.search(&format!("q={typo}")).await),
            ["Linen Long Sleeve Shirt"],
            "{typo}"
        );
    }
    // Two edits in a word of 9 letters or more.
    assert_eq!(
        names(&app.search("q=haedphoens").await),
        ["Studio Headphones"]
    );
    // Two edits in six letters are more than a typo.
    let nothing = app.search("q=slxxve").await;
    assert_eq!(nothing, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = TestApp::spawn().await;
    let peripherals = app.create_category("peripherals", None).await.id;
    let mice = app.create_category("mice", Some(peripherals)).await.id;
    let audio = app.create_category("audio", None).await.id;
    let cheap = app
        .create_product(&product_body("Cheap Mouse", mice, 1000, 4))
        .await;
    let sold_out = app
        .create_product(&product_body("Sold Out Mouse", mice, 3000, 0))
        .await;
    let pricey = app
        .create_product(&product_body("Pricey Keyboard", peripherals, 9000, 2))
        .await;
    let speaker = app
        .create_product(&product_body("Speaker", audio, 5000, 9))
        .await;
    let ids = |page: Value| -> HashSet<Uuid> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| serde_json::from_value(p["id"].clone()).expect("id"))
            .collect()
    };

    assert_eq!(
        ids(app.search("category=peripherals").await),
        HashSet::from([cheap.id, sold_out.id, pricey.id]),
        "a category includes its subcategories"
    );
    assert_eq!(
        ids(app.search("category=mice").await),
        HashSet::from([cheap.id, sold_out.id])
    );
    assert_eq!(ids(app.search("category=unknown").await), HashSet::new());
    assert_eq!(
        ids(app.search("min_price=3000&max_price=5000").await),
        HashSet::from([sold_out.id, speaker.id]),
        "bounds are inclusive"
    );
    assert_eq!(
        ids(app.search("in_stock=true").await),
        HashSet::from([cheap.id, pricey.id, speaker.id])
    );
    assert_eq!(
        ids(app.search("in_stock=false").await),
        HashSet::from([sold_out.id])
    );
    assert_eq!(
        ids(app
            .search("category=peripherals&in_stock=true&max_price=5000")
            .await),
        HashSet::from([cheap.id])
    );
    assert_eq!(
        ids(app.search("q=mouse&category=mice&in_stock=true").await),
        HashSet::from([cheap.id])
    );
}

#[tokio::test]
async fn sorts_order_by_price_both_ways_and_by_newest() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await.id;
    for (name, price) in [("B", 3000), ("A", 1000), ("D", 2000), ("C", 4000)] {
        app.create_product(&product_body(name, category, price, 1))
            .await;
    }
    let prices = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["price"]["amount"].as_i64().expect("amount"))
            .collect()
    };
    assert_eq!(
        prices(&app.search("sort=price_asc").await),
        [1000, 2000, 3000, 4000]
    );
    assert_eq!(
        prices(&app.search("sort=price_desc").await),
        [4000, 3000, 2000, 1000]
    );
    assert_eq!(
        names(&app.search("sort=newest").await),
        ["C", "D", "A", "B"]
    );
    assert_eq!(
        names(&app.search("").await),
        ["C", "D", "A", "B"],
        "relevance without a query is newest first"
    );
}

/// Pages through `query` while other products are inserted, checking that every product that
/// existed before is seen exactly once and nothing is seen twice.
async fn page_through_while_inserting(app: &TestApp, category: Uuid, query: &str) {
    let before: HashSet<Value> = {
        let all = app.search(&format!("{query}&limit=100")).await;
        all["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["id"].clone())
            .collect()
    };
    assert!(before.len() >= 20, "{query}: {}", before.len());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{query}&limit=4&cursor={cursor}"),
            None => format!("{query}&limit=4"),
        };
        let page = app.search(&path).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].clone());
        }
        // New rows on both sides of the current position: cheapest, dearest, newest.
        for price in [1, 1_000_000] {
            inserted += 1;
            app.create_product(&product_body(
                &format!("Inserted keyboard {inserted}"),
                category,
                price,
                1,
            ))
            .await;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<Value> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "{query}: a row came twice");
    assert!(
        before.is_subset(&unique),
        "{query}: {} rows skipped",
        before.difference(&unique).count()
    );
}

#[tokio::test]
async fn paging_while_rows_are_inserted_neither_repeats_nor_skips() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await.id;
    for i in 0..22 {
        // Some prices repeat, so the id tie-breaker is exercised.
        let description = "keyboard ".repeat(i % 4 + 1);
        product(
            &app,
            category,
            &format!("Keyboard model {i}"),
            &description,
            1000 + (i as i64 % 5) * 100,
        )
        .await;
    }
    for query in [
        "sort=price_asc",
        "sort=price_desc",
        "sort=newest",
        "q=keyboard",
        "q=keybaord",
        "q=keyboard&sort=price_asc",
    ] {
        page_through_while_inserting(&app, category, query).await;
    }
}

/// The ids of every page of `query`, four at a time, in order.
async fn every_page(app: &TestApp, query: &str) -> Vec<Value> {
    let mut ids = Vec::new();
    let mut path = format!("{query}&limit=4");
    loop {
        let page = app.search(&path).await;
        ids.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("{query}&limit=4&cursor={next}"),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn a_text_search_filtered_by_stock_pages_through_its_matches_in_order() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await.id;
    // Every other keyboard is sold out; ranks and prices repeat, so ties are broken by id.
    for i in 0..24 {
        let stock = if i % 2 == 0 { 3 } else { 0 };
        let mut body = product_body(
            &format!("Keyboard model {i}"),
            category,
            1000 + (i % 5) * 100,
            stock,
        );
        body["description"] = json!("keyboard ".repeat(i as usize % 3 + 1));
        app.create_product(&body).await;
    }
    app.create_product(&product_body("Keyboard", category, 500, 0))
        .await;

    for (query, stocked, count) in [
        ("q=keyboard&in_stock=true", true, 12),
        ("q=keyboard&in_stock=false", false, 13),
        ("q=keyboard&in_stock=false&sort=price_desc", false, 13),
        ("q=keybaord&in_stock=true&sort=price_asc", true, 12),
    ] {
        let whole = app.search(&format!("{query}&limit=100")).await;
        let items = whole["items"].as_array().expect("items");
        assert_eq!(items.len(), count, "{query}");
        assert!(
            items
                .iter()
                .all(|p| (p["stock"].as_u64() > Some(0)) == stocked),
            "{query}: {whole}"
        );
        let ids: Vec<Value> = items.iter().map(|p| p["id"].clone()).collect();
        assert_eq!(every_page(&app, query).await, ids, "{query}");
    }
    let sold_out = app.search("q=keyboard&in_stock=false").await;
    assert_eq!(
        names(&sold_out)[0],
        "Keyboard",
        "the exact match still ranks first"
    );
}

/// The home page's featured list: what admins feature, newest first, for sale only.
#[tokio::test]
async fn featured_lists_only_the_products_admins_feature() {
    let app = TestApp::spawn().await;
    let category = app.create_category("audio", None).await.id;
    let featured = |mut body: Value| {
        body["featured"] = json!(true);
        body
    };
    let speaker = app
        .create_product(&featured(product_body(
            "Featured speaker",
            category,
            9900,
            5,
        )))
        .await;
    assert!(speaker.featured);
    let plain = app
        .create_product(&product_body("Plain headphones", category, 4900, 5))
        .await;
    assert!(!plain.featured, "not featured unless asked");
    let mut hidden = featured(product_body("Hidden speaker", category, 100, 5));
    hidden["active"] = json!(false);
    app.create_product(&hidden).await;
    let turntable = app
        .create_product(&product_body("Sold-out turntable", category, 19900, 0))
        .await;
    let feature = |version: i64, on: bool| {
        app.as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", turntable.id))),
        )
        .json(&json!({"version": version, "featured": on}))
        .send()
    };
    let featured_now = feature(1, true).await.expect("request");
    assert_eq!(featured_now.status(), reqwest::StatusCode::OK);
    let featured_now: Product = featured_now.json().await.expect("product");
    assert_eq!((featured_now.featured, featured_now.version), (true, 2));
    assert!(app.product(turntable.id).await.featured);

    assert_eq!(
        names(&app.search("featured=true").await),
        ["Sold-out turntable", "Featured speaker"],
        "newest first, hidden ones left out"
    );
    assert_eq!(
        names(&app.search("featured=false").await),
        ["Plain headphones"]
    );
    assert_eq!(
        names(&app.search("featured=true&in_stock=true").await),
        ["Featured speaker"]
    );
    assert_eq!(
        names(&app.search("featured=true&q=speaker").await),
        ["Featured speaker"]
    );
    assert_eq!(
        names(&app.search("featured=true&sort=price_asc").await),
        ["Featured speaker", "Sold-out turntable"]
    );
    let as_admin: Value = app
        .as_admin(app.get("/api/v1/products?featured=true"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("page");
    assert_eq!(
        names(&as_admin),
        ["Sold-out turntable", "Hidden speaker", "Featured speaker"]
    );

    // Its pages keep to the featured list, and its cursor to the filter.
    let first = app.search("featured=true&limit=1").await;
    assert_eq!(names(&first), ["Sold-out turntable"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .search(&format!("featured=true&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(names(&second), ["Featured speaker"]);
    assert_eq!(second["next_cursor"], Value::Null);
    let foreign = app
        .get(&format!("/api/v1/products?limit=1&cursor={cursor}"))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(foreign, 400).await), ["cursor"]);

    let unfeatured = feature(2, false).await.expect("request");
    assert_eq!(unfeatured.status(), reqwest::StatusCode::OK);
    assert_eq!(
        names(&app.search("featured=true").await),
        ["Featured speaker"]
    );
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_refused() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await.id;
    for i in 0..3 {
        app.create_product(&product_body(&format!("Mouse {i}"), category, 1000 + i, 1))
            .await;
    }
    let page = app.search("sort=price_asc&limit=1").await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = app
        .search(&format!("sort=price_asc&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(names(&next), ["Mouse 1"]);

    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for query in [
        format!("sort=price_asc&cursor={tampered}"),
        format!("sort=price_desc&cursor={cursor}"),
        format!("sort=price_asc&max_price=5000&cursor={cursor}"),
        "sort=price_asc&cursor=garbage".to_owned(),
    ] {
        let response = app
            .get(&format!("/api/v1/products?{query}"))
            .send()
            .await
            .expect("request");
        assert_eq!(fields(&problem(response, 400).await), ["cursor"], "{query}");
    }
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("limit=100000", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("sort=cheapest", "sort"),
        ("min_price=-1", "min_price"),
        ("min_price=500&max_price=100", "max_price"),
        ("in_stock=maybe", "in_stock"),
        ("featured=yes", "featured"),
        // PostgreSQL's text cannot hold NUL: found by schemathesis as a 500 on the category.
        ("category=a%00b", "category"),
        ("q=%00", "q"),
    ] {
        let response = app
            .get(&format!("/api/v1/products?{query}"))
            .send()
            .await
            .expect("request");
        assert_eq!(fields(&problem(response, 400).await), [field], "{query}");
    }
    assert_eq!(
        app.search("limit=100&utm_source=mail").await["items"],
        json!([])
    );
}

#[tokio::test]
async fn hostile_search_queries_and_cursors_never_fail_the_server() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await;
    app.create_product(&product_body("Wireless Mouse", category.id, 1999, 5))
        .await;
    // Any text, and text made of websearch_to_tsquery's own syntax (quotes, OR, negation,
    // prefixes, operators tsquery reserves), in queries and in cursors.
    // Control characters too: NUL among them, which PostgreSQL's text refuses.
    let text = "\\PC{0,220}|[\"'()!&|:*<>\\\\ -]{0,40}|(mouse|OR|-|\"|or|AND) {0,3}[a-z]{0,8}|[a-z]{0,3}[\\x00-\\x1f]{1,3}[a-z]{0,3}";
    let mut runner = TestRunner::deterministic();
    for _ in 0..150 {
        let q = text.new_tree(&mut runner).expect("a value").current();
        let cursor = text.new_tree(&mut runner).expect("a value").current();
        for query in [
            vec![("q", q.as_str())],
            vec![("q", q.as_str()), ("sort", "price_asc")],
            vec![("cursor", cursor.as_str())],
            vec![("category", q.as_str())],
        ] {
            let encoded = serde_urlencoded::to_string(&query).expect("encodable");
            let response = app
                .get(&format!("/api/v1/products?{encoded}"))
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            assert!(matches!(status, 200 | 400), "{status} for {query:?}");
            if status == 400 {
                let body = problem(response, 400).await;
                assert!(!fields(&body).is_empty(), "{query:?}: {body}");
            }
        }
    }
}

/// The pages the service keeps are served only while no write could have changed them: a
/// product going out of stock, an admin's edit, a write straight to the database. Stock figures
/// on a kept page are current.
#[tokio::test]
async fn a_repeated_search_follows_every_write_since() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await.id;
    let first = app
        .create_product(&product_body("Keyboard One", category, 1000, 3))
        .await;
    let second = app
        .create_product(&product_body("Keyboard Two", category, 2000, 1))
        .await;
    let stock = |page: &Value| -> Vec<u64> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["stock"].as_u64().expect("stock"))
            .collect()
    };

    for _ in 0..2 {
        let page = app.search("q=keyboard&in_stock=true&sort=price_asc").await;
        assert_eq!(names(&page), ["Keyboard One", "Keyboard Two"]);
        assert_eq!(stock(&page), [3, 1]);
    }
    let response = app.reserve(Uuid::new_v4(), &[(first.id, 1)]).await;
    assert!(response.status().is_success(), "{}", response.status());
    let page = app.search("q=keyboard&in_stock=true&sort=price_asc").await;
    assert_eq!(stock(&page), [2, 1], "the stock is read afresh");
    let response = app.reserve(Uuid::new_v4(), &[(second.id, 1)]).await;
    assert!(response.status().is_success(), "{}", response.status());
    let page = app.search("q=keyboard&in_stock=true&sort=price_asc").await;
    assert_eq!(names(&page), ["Keyboard One"], "sold out since");

    let page = app.search("q=keyboard&sort=price_asc").await;
    assert_eq!(names(&page), ["Keyboard One", "Keyboard Two"]);
    let response = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", second.id))),
        )
        .json(&json!({"version": second.version, "name": "Desk Mat", "description": "A mat."}))
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    let page = app.search("q=keyboard&sort=price_asc").await;
    assert_eq!(names(&page), ["Keyboard One"], "renamed since");

    sqlx::query("UPDATE products SET active = false WHERE id = $1")
        .bind(first.id)
        .execute(app.state.db())
        .await
        .expect("hide the product");
    let page = app.search("q=keyboard&sort=price_asc").await;
    assert!(names(&page).is_empty(), "hidden since: {page}");
}

/// A kept page is never served without reading it again: with the database gone, its repeat
/// answers the 503 problem that names Postgres, as a search of its own would.
#[tokio::test]
async fn a_kept_page_answers_503_when_postgres_is_gone() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await.id;
    app.create_product(&product_body("Keyboard One", category, 1000, 3))
        .await;
    for _ in 0..2 {
        let page = app.search("q=keyboard").await;
        assert_eq!(names(&page), ["Keyboard One"]);
    }

    app.state.db().close().await;
    let response = app
        .get("/api/v1/products?q=keyboard")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(
        problem["detail"], "postgres is unavailable; retry later.",
        "{problem}"
    );
}

/// Requests for a page that is not kept yet share its computation when they arrive together:
/// while the first one waits in Postgres, seven more come, and the page is computed once for all
/// eight.
#[tokio::test]
async fn requests_that_arrive_together_compute_a_page_once() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await.id;
    app.create_product(&product_body("Keyboard One", category, 1000, 3))
        .await;
    let metrics = kit::metrics::Metrics::new();
    app.state.metrics().register(&metrics);

    // Every search reads the generation first: holding its table keeps the first one waiting.
    let mut hold = app.state.db().begin().await.expect("begin");
    sqlx::query("LOCK TABLE search_generation IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .expect("lock");
    let searches = futures::future::join_all((0..8).map(|_| app.search("q=keyboard")));
    let release = async {
        while sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(app.state.db())
        .await
        .expect("activity")
            == 0
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Time for the other seven to arrive while the first one waits.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        hold.commit().await.expect("release");
    };
    let (pages, ()) = tokio::join!(searches, release);

    for page in &pages {
        assert_eq!(names(page), ["Keyboard One"]);
    }
    let rendered = metrics.render();
    let computed = rendered
        .lines()
        .find_map(|line| line.strip_prefix("product_search_reads_total{read=\"compute\"} "))
        .unwrap_or_else(|| panic!("no compute count in:\n{rendered}"));
    assert_eq!(computed, "1", "{rendered}");
}
