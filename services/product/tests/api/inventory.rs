//! Stock and reservations: never oversold, all or nothing, idempotent, released on expiry.

use contracts::catalog::Product;
use contracts::inventory::{Reservation, ReservationStatus};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, eventually, fields, problem, product_body};

/// A product with `stock` units, in a category of its own.
async fn stocked(app: &TestApp, name: &str, stock: u32) -> Product {
    let category = app
        .create_category(&format!("c-{}", Uuid::new_v4().simple()), None)
        .await;
    app.create_product(&product_body(name, category.id, 1000, stock))
        .await
}

fn internal(app: &TestApp, order_id: Uuid, action: &str) -> reqwest::RequestBuilder {
    app.internal(&format!("/internal/reservations/{order_id}/{action}"))
}

#[tokio::test]
async fn fifty_concurrent_reservations_for_the_last_ten_units_reserve_exactly_ten() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Last units", 10).await;
    let one = [(product.id, 1)];
    let attempts = (0..50).map(|_| app.reserve(Uuid::new_v4(), &one));
    let responses = join_all(attempts).await;
    let mut reserved = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => reserved += 1,
            StatusCode::CONFLICT => {
                let body = problem(response, 409).await;
                assert_eq!(body["type"], "/problems/insufficient-stock");
                assert_eq!(body["insufficient_stock"][0]["requested"], 1);
                assert_eq!(body["insufficient_stock"][0]["available"], 0);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(reserved, 10);
    assert_eq!(app.inventory(product.id).await, (10, 10));
    assert_eq!(app.product(product.id).await.stock, 0);
}

#[tokio::test]
async fn a_reservation_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let plenty = stocked(&app, "Plenty", 5).await;
    let scarce = stocked(&app, "Scarce", 1).await;
    let response = app
        .reserve(Uuid::new_v4(), &[(plenty.id, 2), (scarce.id, 3)])
        .await;
    let body = problem(response, 409).await;
    assert_eq!(
        body["insufficient_stock"],
        json!([{"product_id": scarce.id, "requested": 3, "available": 1}])
    );
    assert_eq!(app.inventory(plenty.id).await, (5, 0), "nothing was held");
    assert_eq!(app.inventory(scarce.id).await, (1, 0));
}

#[tokio::test]
async fn the_same_reservation_twice_has_one_effect() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Mouse", 5).await;
    let order = Uuid::new_v4();
    let first = app.reserve(order, &[(product.id, 2)]).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Reservation = first.json().await.expect("reservation");
    assert_eq!(first.status, ReservationStatus::Reserved);
    let again = app.reserve(order, &[(product.id, 2)]).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again.json::<Reservation>().await.expect("reservation"),
        first
    );
    assert_eq!(app.inventory(product.id).await, (5, 2));

    let different = app.reserve(order, &[(product.id, 3)]).await;
    assert_eq!(fields(&problem(different, 409).await), ["lines"]);

    let concurrent_order = Uuid::new_v4();
    let one = [(product.id, 1)];
    let responses = join_all((0..10).map(|_| app.reserve(concurrent_order, &one))).await;
    let created = responses
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let replayed = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!((created, replayed), (1, 9));
    assert_eq!(app.inventory(product.id).await, (5, 3));
}

#[tokio::test]
async fn an_expired_reservation_gives_its_stock_back() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Headphones", 4).await;
    let stale = Uuid::new_v4();
    let fresh = Uuid::new_v4();
    assert_eq!(
        app.reserve(stale, &[(product.id, 3)]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.reserve(fresh, &[(product.id, 1)]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.product(product.id).await.stock, 0);
    assert!(app.is_cached(product.id).await);
    // Move the deadline into the past rather than waiting for it.
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = $1",
    )
    .bind(stale)
    .execute(app.state.db())
    .await
    .expect("age the reservation");

    let expired = product::inventory::sweep_expired(&app.state)
        .await
        .expect("sweep");
    assert_eq!(expired, 1);
    assert_eq!(app.inventory(product.id).await, (4, 1));
    assert_eq!(
        app.product(product.id).await.stock,
        3,
        "the cache was invalidated"
    );
    assert_eq!(
        product::inventory::sweep_expired(&app.state)
            .await
            .expect("sweep"),
        0
    );

    let commit = internal(&app, stale, "commit")
        .send()
        .await
        .expect("request");
    problem(commit, 409).await;
    let release = internal(&app, stale, "release")
        .send()
        .await
        .expect("request");
    assert_eq!(release.status(), StatusCode::OK);
    let release: Reservation = release.json().await.expect("reservation");
    assert_eq!(release.status, ReservationStatus::Expired);
    assert_eq!(app.inventory(product.id).await, (4, 1));
}

#[tokio::test]
async fn commit_sells_the_units_and_release_returns_them() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Monitor", 10).await;
    let paid = Uuid::new_v4();
    let cancelled = Uuid::new_v4();
    app.reserve(paid, &[(product.id, 3)]).await;
    app.reserve(cancelled, &[(product.id, 2)]).await;
    assert_eq!(app.inventory(product.id).await, (10, 5));
    // Each step below starts from a cached detail, so a step that forgot to invalidate it
    // would show the old stock.
    assert_eq!(app.product(product.id).await.stock, 5);
    assert!(app.is_cached(product.id).await);

    for _ in 0..2 {
        let commit = internal(&app, paid, "commit")
            .send()
            .await
            .expect("request");
        assert_eq!(commit.status(), StatusCode::OK);
        let commit: Reservation = commit.json().await.expect("reservation");
        assert_eq!(commit.status, ReservationStatus::Committed);
        assert_eq!(app.inventory(product.id).await, (7, 2), "committed once");
    }
    assert_eq!(
        app.product(product.id).await.stock,
        5,
        "a commit sells units that were already held: nothing more is available"
    );
    assert!(app.is_cached(product.id).await);
    for _ in 0..2 {
        let release = internal(&app, cancelled, "release")
            .send()
            .await
            .expect("request");
        assert_eq!(release.status(), StatusCode::OK);
        assert_eq!(app.inventory(product.id).await, (7, 0), "released once");
    }
    assert_eq!(
        app.product(product.id).await.stock,
        7,
        "the release invalidated the cached detail"
    );
    assert!(app.is_cached(product.id).await);
    for _ in 0..2 {
        let restock = internal(&app, paid, "release")
            .send()
            .await
            .expect("request");
        assert_eq!(restock.status(), StatusCode::OK);
        assert_eq!(
            app.inventory(product.id).await,
            (10, 0),
            "a paid order cancelled before shipping restocks, once"
        );
    }
    assert_eq!(
        app.product(product.id).await.stock,
        10,
        "the restock invalidated the cached detail"
    );
    problem(
        internal(&app, cancelled, "commit")
            .send()
            .await
            .expect("request"),
        409,
    )
    .await;
    problem(
        internal(&app, Uuid::new_v4(), "commit")
            .send()
            .await
            .expect("request"),
        404,
    )
    .await;
}

#[tokio::test]
async fn bad_reservations_name_the_line_and_hold_nothing() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Keyboard", 10).await;
    let unknown = app
        .reserve(Uuid::new_v4(), &[(product.id, 1), (Uuid::new_v4(), 1)])
        .await;
    assert_eq!(
        fields(&problem(unknown, 422).await),
        ["lines[1].product_id"]
    );
    let zero = app.reserve(Uuid::new_v4(), &[(product.id, 0)]).await;
    assert_eq!(fields(&problem(zero, 422).await), ["lines[0].quantity"]);
    let empty = app.reserve(Uuid::new_v4(), &[]).await;
    assert_eq!(fields(&problem(empty, 422).await), ["lines"]);
    let ttl = app
        .internal("/internal/reservations")
        .json(&json!({
            "order_id": Uuid::new_v4(),
            "lines": [{"product_id": product.id, "quantity": 1}],
            "ttl_seconds": 0
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(ttl, 422).await), ["ttl_seconds"]);
    assert_eq!(app.inventory(product.id).await, (10, 0));
}

#[tokio::test]
async fn crossing_multi_line_reservations_do_not_deadlock() {
    let app = TestApp::spawn().await;
    let a = stocked(&app, "A", 100).await;
    let b = stocked(&app, "B", 100).await;
    let attempts = (0..30).map(|i| {
        let lines = if i % 2 == 0 {
            vec![(a.id, 1), (b.id, 2)]
        } else {
            vec![(b.id, 2), (a.id, 1)]
        };
        let app = &app;
        async move { app.reserve(Uuid::new_v4(), &lines).await.status() }
    });
    let statuses = join_all(attempts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(app.inventory(a.id).await, (100, 30));
    assert_eq!(app.inventory(b.id).await, (100, 60));
}

#[tokio::test]
async fn an_admin_sets_the_units_available_to_sell() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Speaker", 5).await;
    app.reserve(Uuid::new_v4(), &[(product.id, 2)]).await;
    assert_eq!(app.product(product.id).await.stock, 3);
    assert!(app.is_cached(product.id).await);
    let path = format!("/api/v1/admin/products/{}/stock", product.id);
    let response = app
        .as_admin(app.server.client.put(app.url(&path)))
        .json(&json!({"available": 7}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Product>().await.expect("product").stock, 7);
    assert_eq!(app.inventory(product.id).await, (9, 2));
    assert_eq!(
        app.product(product.id).await.stock,
        7,
        "the cache was invalidated"
    );
    let negative = app
        .as_admin(app.server.client.put(app.url(&path)))
        .json(&json!({"available": -1}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(negative, 422).await), ["available"]);
    let unknown = app
        .as_admin(
            app.server
                .client
                .put(app.url(&format!("/api/v1/admin/products/{}/stock", Uuid::new_v4()))),
        )
        .json(&json!({"available": 1}))
        .send()
        .await
        .expect("request");
    problem(unknown, 404).await;
}

/// The `ETag` is the version, which validates what admins write: setting the stock counts a
/// new one, so an edit based on what was read before is refused; orders holding units do not.
#[tokio::test]
async fn setting_the_stock_is_a_new_version_and_reserving_is_not() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Speaker", 5).await;
    let detail = format!("/api/v1/products/{}", product.id);
    let etag = |response: &reqwest::Response| response.headers()["etag"].clone();
    let read = app.get(&detail).send().await.expect("request");
    assert_eq!(etag(&read), "\"1\"");

    let stock = format!("/api/v1/admin/products/{}/stock", product.id);
    let set = app
        .as_admin(app.server.client.put(app.url(&stock)))
        .header("if-match", "\"1\"")
        .json(&json!({"available": 9}))
        .send()
        .await
        .expect("request");
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(etag(&set), "\"2\"");
    assert_eq!(set.json::<Product>().await.expect("product").version, 2);
    let read = app.get(&detail).send().await.expect("request");
    assert_eq!(etag(&read), "\"2\"", "the cached detail was replaced");

    let stale_edit = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", product.id))),
        )
        .header("if-match", "\"1\"")
        .json(&json!({"version": 1, "name": "Renamed"}))
        .send()
        .await
        .expect("request");
    problem(stale_edit, 412).await;
    let stale_stock = app
        .as_admin(app.server.client.put(app.url(&stock)))
        .header("if-match", "\"1\"")
        .json(&json!({"available": 1}))
        .send()
        .await
        .expect("request");
    problem(stale_stock, 412).await;
    assert_eq!(app.inventory(product.id).await, (9, 0), "nothing changed");

    app.reserve(Uuid::new_v4(), &[(product.id, 4)]).await;
    let read = app.get(&detail).send().await.expect("request");
    assert_eq!(etag(&read), "\"2\"");
    let after = read.json::<Product>().await.expect("product");
    assert_eq!((after.stock, after.version), (5, 2));
}

/// A stock write locks the product, then its inventory; a reservation locks the inventory,
/// then needs a key-share lock on the product for its foreign key. They must not deadlock.
#[tokio::test]
async fn stock_writes_and_reservations_at_once_do_not_deadlock() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Busy", 100).await;
    let stock = app.url(&format!("/api/v1/admin/products/{}/stock", product.id));
    let attempts = (0..40).map(|i| {
        let app = &app;
        let stock = &stock;
        async move {
            if i % 2 == 0 {
                app.reserve(Uuid::new_v4(), &[(product.id, 1)])
                    .await
                    .status()
            } else {
                app.as_admin(app.server.client.put(stock))
                    .json(&json!({"available": 50}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            }
        }
    });
    let statuses = join_all(attempts).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::OK),
        "{statuses:?}"
    );
    let (on_hand, reserved) = app.inventory(product.id).await;
    assert_eq!((on_hand - reserved, reserved), (50, 20));
}

/// The background sweeper as `serve` runs it: it expires a stale reservation on its own, and
/// stops on shutdown.
#[tokio::test]
async fn the_background_sweeper_gives_stale_stock_back_and_stops_on_shutdown() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Lamp", 2).await;
    let stale = Uuid::new_v4();
    assert_eq!(
        app.reserve(stale, &[(product.id, 2)]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.product(product.id).await.stock, 0);
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = $1",
    )
    .bind(stale)
    .execute(app.state.db())
    .await
    .expect("age the reservation");

    let shutdown = kit::shutdown::Shutdown::new();
    let sweeper = tokio::spawn(product::inventory::run_sweeper(
        app.state.clone(),
        std::time::Duration::from_millis(50),
        shutdown.clone(),
    ));
    eventually("the sweeper to expire the reservation", || async {
        (app.product(product.id).await.stock == 2).then_some(())
    })
    .await;
    assert_eq!(app.inventory(product.id).await, (2, 0));
    shutdown.trigger();
    tokio::time::timeout(std::time::Duration::from_secs(5), sweeper)
        .await
        .expect("the sweeper stops on shutdown")
        .expect("the sweeper did not panic");
}

#[tokio::test]
async fn reaching_the_port_is_not_enough_to_reserve_stock_through_the_internal_api() {
    let app = TestApp::spawn().await;
    let product = stocked(&app, "Guarded", 5).await;
    let order_id = Uuid::new_v4();
    let body =
        json!({ "order_id": order_id, "lines": [{"product_id": product.id, "quantity": 5}] });
    let wrong = format!("{}x", crate::helpers::INTERNAL_TOKEN);
    for token in [None, Some(""), Some(wrong.as_str())] {
        for (path, body) in [
            ("/internal/reservations".to_owned(), body.clone()),
            (
                "/internal/products/prices".to_owned(),
                json!({ "ids": [product.id] }),
            ),
            (
                format!("/internal/reservations/{order_id}/commit"),
                json!({}),
            ),
            (
                format!("/internal/reservations/{order_id}/release"),
                json!({}),
            ),
        ] {
            let mut request = app.post(&path).json(&body);
            if let Some(token) = token {
                request = request.header(kit::internal::INTERNAL_TOKEN_HEADER, token);
            }
            let answer = request.send().await.expect("request");
            let problem = problem(answer, 401).await;
            assert_eq!(problem["type"], "/problems/unauthorized", "{path}");
        }
    }
    // Nothing was held: all five units can still be reserved, with the token.
    let reserved = app.reserve(Uuid::new_v4(), &[(product.id, 5)]).await;
    assert_eq!(reserved.status(), StatusCode::CREATED);
}
