//! Categories: the tree, the admin's edits and deletions, and the cached list.

use contracts::catalog::Category;
use futures::future::join_all;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, fields, names, problem, product_body};

impl TestApp {
    async fn categories(&self) -> Vec<Category> {
        let response = self
            .get("/api/v1/categories")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("categories")
    }

    fn patch_category(&self, id: Uuid, body: &Value) -> RequestBuilder {
        self.as_admin(
            self.server
                .client
                .patch(self.url(&format!("/api/v1/admin/categories/{id}"))),
        )
        .json(body)
    }

    fn delete_category(&self, id: Uuid) -> RequestBuilder {
        self.as_admin(
            self.server
                .client
                .delete(self.url(&format!("/api/v1/admin/categories/{id}"))),
        )
    }
}

#[tokio::test]
async fn categories_form_a_tree_and_the_cached_list_follows_writes() {
    let app = TestApp::spawn().await;
    let audio = app.create_category("audio", None).await;
    let listed: Vec<Category> = app
        .get("/api/v1/categories")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("categories");
    assert_eq!(listed, std::slice::from_ref(&audio));
    let headphones = app.create_category("headphones", Some(audio.id)).await;
    let listed: Vec<Category> = app
        .get("/api/v1/categories")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("categories");
    assert_eq!(listed, [audio.clone(), headphones]);

    let taken = app
        .as_admin(app.post("/api/v1/admin/categories"))
        .json(&json!({"slug": "audio", "name": "Audio again"}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(taken, 409).await), ["slug"]);
    let orphan = app
        .as_admin(app.post("/api/v1/admin/categories"))
        .json(&json!({"slug": "orphan", "name": "Orphan", "parent_id": Uuid::new_v4()}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(orphan, 422).await), ["parent_id"]);
    let nameless = app
        .as_admin(app.post("/api/v1/admin/categories"))
        .json(&json!({"slug": "nameless", "name": ""}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(nameless, 422).await), ["name"]);
}

#[tokio::test]
async fn an_admin_renames_and_moves_a_category_and_the_cached_list_follows() {
    let app = TestApp::spawn().await;
    let audio = app.create_category("audio", None).await;
    let computers = app.create_category("computers", None).await;
    let headphones = app.create_category("headphones", Some(audio.id)).await;
    app.create_product(&product_body("Studio headphones", headphones.id, 9900, 3))
        .await;
    assert_eq!(app.categories().await.len(), 3, "the list is cached now");
    assert_eq!(
        names(&app.search("category=audio").await),
        ["Studio headphones"]
    );

    let response = app
        .patch_category(
            headphones.id,
            &json!({"version": 1, "slug": "head-fi", "name": "Head-fi", "parent_id": computers.id}),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let moved = Category {
        id: headphones.id,
        slug: "head-fi".to_owned(),
        name: "Head-fi".to_owned(),
        parent_id: Some(computers.id),
        version: 2,
    };
    assert_eq!(response.json::<Category>().await.expect("category"), moved);
    assert!(
        app.categories().await.contains(&moved),
        "the cache was invalidated"
    );
    assert_eq!(
        names(&app.search("category=audio").await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&app.search("category=computers").await),
        ["Studio headphones"]
    );

    // A write without changes still counts a version, as for products.
    let unchanged = app
        .patch_category(headphones.id, &json!({"version": 2}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        unchanged.json::<Category>().await.expect("category"),
        Category {
            version: 3,
            ..moved.clone()
        }
    );
    let top_level = app
        .patch_category(headphones.id, &json!({"version": 3, "parent_id": null}))
        .send()
        .await
        .expect("request");
    let top_level: Category = top_level.json().await.expect("category");
    assert_eq!(top_level.parent_id, None);
    let expected = Category {
        parent_id: None,
        version: 4,
        ..moved
    };
    assert_eq!(top_level, expected);
    assert!(app.categories().await.contains(&expected));
}

#[tokio::test]
async fn bad_category_changes_are_refused_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let root = app.create_category("root", None).await;
    let child = app.create_category("child", Some(root.id)).await;
    let grandchild = app.create_category("grandchild", Some(child.id)).await;
    let other = app.create_category("other", None).await;
    let before = app.categories().await;

    let cases = [
        (json!({"version": 1, "slug": "other"}), 409, "slug", "taken"),
        (
            json!({"version": 1, "slug": "Not A Slug"}),
            422,
            "slug",
            "invalid",
        ),
        (json!({"version": 1, "slug": null}), 422, "slug", "invalid"),
        (json!({"version": 1, "name": ""}), 422, "name", "required"),
        (json!({"version": 1, "name": null}), 422, "name", "invalid"),
        (
            json!({"version": 1, "parent_id": Uuid::new_v4()}),
            422,
            "parent_id",
            "unknown",
        ),
        (
            json!({"version": 1, "parent_id": "nope"}),
            422,
            "parent_id",
            "invalid",
        ),
        (
            json!({"version": 1, "parent_id": root.id}),
            422,
            "parent_id",
            "cycle",
        ),
        (
            json!({"version": 1, "parent_id": grandchild.id}),
            422,
            "parent_id",
            "cycle",
        ),
        (
            json!({"version": 1, "parent": other.id}),
            422,
            "parent",
            "invalid",
        ),
        (json!({"name": "Unversioned"}), 422, "version", "invalid"),
        (
            json!({"version": 0, "name": "Zero"}),
            422,
            "version",
            "invalid",
        ),
    ];
    for (body, status, field, code) in cases {
        let response = app
            .patch_category(root.id, &body)
            .send()
            .await
            .expect("request");
        let problem = problem(response, status).await;
        assert_eq!(fields(&problem), [field], "{body}: {problem}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}: {problem}");
    }
    // A move may not close a cycle through several levels either.
    let response = app
        .patch_category(child.id, &json!({"version": 1, "parent_id": grandchild.id}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(response, 422).await), ["parent_id"]);
    assert_eq!(app.categories().await, before, "nothing changed");

    let unknown = app
        .patch_category(Uuid::new_v4(), &json!({"version": 1, "name": "Ghost"}))
        .send()
        .await
        .expect("request");
    problem(unknown, 404).await;
    let malformed = app
        .as_admin(
            app.server
                .client
                .patch(app.url("/api/v1/admin/categories/42")),
        )
        .json(&json!({"version": 1, "name": "Ghost"}))
        .send()
        .await
        .expect("request");
    problem(malformed, 400).await;
    for request in [
        app.server
            .client
            .patch(app.url(&format!("/api/v1/admin/categories/{}", other.id)))
            .json(&json!({"version": 1, "name": "Mine"})),
        app.server
            .client
            .delete(app.url(&format!("/api/v1/admin/categories/{}", other.id))),
    ] {
        problem(request.send().await.expect("request"), 401).await;
    }
    assert_eq!(app.categories().await, before);
}

/// Two admins editing one category: the second, based on the version before the first's
/// write, is refused rather than silently undoing it.
#[tokio::test]
async fn a_stale_category_write_is_refused_with_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let created = app
        .as_admin(app.post("/api/v1/admin/categories"))
        .json(&json!({"slug": "audio", "name": "Audio"}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let audio: Category = created.json().await.expect("category");
    assert_eq!(audio.version, 1);
    let patch = |body: Value, if_match: Option<&str>| {
        let mut request = app.patch_category(audio.id, &body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send()
    };

    let first = patch(json!({"version": 1, "name": "First"}), None)
        .await
        .expect("request");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], "\"2\"");
    assert_eq!(first.json::<Category>().await.expect("category").version, 2);
    let after_first = app.categories().await;
    assert_eq!(
        (after_first[0].name.as_str(), after_first[0].version),
        ("First", 2),
        "the cached list follows"
    );

    let stale = patch(json!({"version": 1, "name": "Second"}), None)
        .await
        .expect("request");
    let body = problem(stale, 412).await;
    assert_eq!(body["type"], "/problems/precondition-failed");
    let stale_etag = patch(json!({"version": 2, "name": "Third"}), Some("\"1\""))
        .await
        .expect("request");
    problem(stale_etag, 412).await;
    let stale_move = patch(json!({"version": 1, "parent_id": null}), Some("\"1\""))
        .await
        .expect("request");
    problem(stale_move, 412).await;
    let malformed = patch(json!({"version": 2, "name": "Fourth"}), Some("two"))
        .await
        .expect("request");
    assert_eq!(fields(&problem(malformed, 400).await), ["If-Match"]);
    let stale_delete = app
        .delete_category(audio.id)
        .header("if-match", "\"1\"")
        .send()
        .await
        .expect("request");
    problem(stale_delete, 412).await;
    let stored: (String, i64) =
        sqlx::query_as("SELECT name, version FROM categories WHERE id = $1")
            .bind(audio.id)
            .fetch_one(app.state.db())
            .await
            .expect("the row");
    assert_eq!(stored, ("First".to_owned(), 2), "nothing changed");
    assert_eq!(app.categories().await, after_first);

    let fresh = patch(json!({"version": 2, "name": "Fifth"}), Some("\"2\""))
        .await
        .expect("request");
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(fresh.headers()["etag"], "\"3\"");
    let fresh: Category = fresh.json().await.expect("category");
    assert_eq!((fresh.name.as_str(), fresh.version), ("Fifth", 3));
    assert_eq!(app.categories().await, [fresh]);
    let deleted = app
        .delete_category(audio.id)
        .header("if-match", "\"3\"")
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.categories().await, []);
}

#[tokio::test]
async fn only_an_empty_category_can_be_deleted_and_its_slug_is_then_free() {
    let app = TestApp::spawn().await;
    let audio = app.create_category("audio", None).await;
    let speakers = app.create_category("speakers", Some(audio.id)).await;
    let product = app
        .create_product(&product_body("Bookshelf speaker", speakers.id, 19900, 2))
        .await;
    assert_eq!(app.categories().await.len(), 2, "the list is cached now");

    for (category, what) in [(audio.id, "a subcategory"), (speakers.id, "a product")] {
        let refused = app.delete_category(category).send().await.expect("request");
        let body = problem(refused, 409).await;
        assert_eq!(body["type"], "/problems/conflict", "{what}: {body}");
    }
    assert_eq!(app.categories().await.len(), 2);

    let product_path = format!("/api/v1/admin/products/{}", product.id);
    let deleted = app
        .as_admin(app.server.client.delete(app.url(&product_path)))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // A deleted product no longer counts, though its row still names the category.
    let deleted = app
        .delete_category(speakers.id)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.categories().await,
        std::slice::from_ref(&audio),
        "the cache was invalidated"
    );
    let again = app
        .delete_category(speakers.id)
        .send()
        .await
        .expect("request");
    problem(again, 404).await;
    let edit = app
        .patch_category(speakers.id, &json!({"version": 2, "name": "Back"}))
        .send()
        .await
        .expect("request");
    problem(edit, 404).await;

    // Nothing new goes into a deleted category or below it.
    let orphan = app
        .try_create_product(&product_body("Orphan", speakers.id, 100, 1))
        .await;
    assert_eq!(fields(&problem(orphan, 422).await), ["category_id"]);
    let moved = app
        .patch_category(audio.id, &json!({"version": 1, "parent_id": speakers.id}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(moved, 422).await), ["parent_id"]);
    let child = app
        .as_admin(app.post("/api/v1/admin/categories"))
        .json(&json!({"slug": "tweeters", "name": "Tweeters", "parent_id": speakers.id}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(child, 422).await), ["parent_id"]);
    let live = app
        .create_product(&product_body("Live speaker", audio.id, 100, 1))
        .await;
    let into_deleted = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", live.id))),
        )
        .json(&json!({"version": live.version, "category_id": speakers.id}))
        .send()
        .await
        .expect("request");
    assert_eq!(fields(&problem(into_deleted, 422).await), ["category_id"]);

    let reborn = app.create_category("speakers", None).await;
    assert_ne!(reborn.id, speakers.id);
    app.create_product(&product_body("New speaker", reborn.id, 100, 1))
        .await;
    assert_eq!(
        names(&app.search("category=speakers").await),
        ["New speaker"]
    );
}

/// Two moves that are each fine alone close a cycle together; category writes take turns,
/// so one of them sees the other and is refused.
#[tokio::test]
async fn crossing_moves_at_once_never_make_a_cycle() {
    let app = TestApp::spawn().await;
    for round in 0..10 {
        let a = app.create_category(&format!("a-{round}"), None).await;
        let b = app.create_category(&format!("b-{round}"), None).await;
        let moves = [(a.id, b.id), (b.id, a.id)].map(|(id, parent)| {
            let app = &app;
            async move {
                app.patch_category(id, &json!({"version": 1, "parent_id": parent}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            }
        });
        let mut statuses = join_all(moves).await;
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
    }
}

/// A product created while its category is being deleted either makes the deletion fail or
/// is refused itself: no live product is left in a deleted category.
#[tokio::test]
async fn a_category_deleted_while_products_are_created_in_it_is_never_left_holding_one() {
    let app = TestApp::spawn().await;
    for round in 0..20 {
        let category = app.create_category(&format!("c-{round}"), None).await;
        // The deletion goes out first in some rounds and amid the creations in others.
        let position = round % 9;
        let requests = (0..9).map(|i| {
            let app = &app;
            let body = product_body(&format!("Racer {round} {i}"), category.id, 100, 1);
            async move {
                if i == position {
                    app.delete_category(category.id).send().await
                } else {
                    app.as_admin(app.post("/api/v1/admin/products"))
                        .json(&body)
                        .send()
                        .await
                }
                .expect("request")
                .status()
            }
        });
        let mut statuses = join_all(requests).await;
        let deleted = statuses.remove(position);
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY),
            "{statuses:?}"
        );
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM products WHERE category_id = $1 AND deleted_at IS NULL",
        )
        .bind(category.id)
        .fetch_one(app.state.db())
        .await
        .expect("count");
        match deleted {
            StatusCode::NO_CONTENT => assert_eq!(live, 0, "round {round}"),
            StatusCode::CONFLICT => assert!(live > 0, "round {round}"),
            other => panic!("round {round}: the deletion answered {other}"),
        }
    }
}
