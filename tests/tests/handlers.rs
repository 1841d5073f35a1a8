//! A handler is an ordinary `async fn`: unit tests call it with a context from
//! `plugin_routes::testing`, without HTTP.

use items_example::routes::{create_item, get_item};
use items_example::{CreateItem, ItemStatus, ItemsPlugin, ItemsState};
use plugin_routes::Principal;
use plugin_routes::testing::{context_for, with_caller};

#[tokio::test]
async fn handlers_can_be_called_directly() {
    let state = ItemsState::connect("sqlite::memory:").await.unwrap();
    let ctx = context_for::<ItemsPlugin>(state.clone());
    // A secured handler without a caller fails rather than serve anyone's items.
    assert!(get_item(ctx.clone(), 7).await.unwrap_err().is_internal());
    let alice = Principal::new("alice", None, "token", vec!["items:*".into()]);
    let ctx = with_caller(ctx, alice);
    assert_eq!(ctx.plugin().name, "items");

    let err = get_item(ctx.clone(), 7).await.unwrap_err();
    assert_eq!(err.code(), Some("ITEM_NOT_FOUND"));
    assert_eq!(err.status(), 404);
    assert_eq!(err.message(), "no item has id 7");

    let input = CreateItem {
        name: "desk".into(),
        status: ItemStatus::Archived,
    };
    let item = create_item(ctx.clone(), input).await.unwrap();
    assert_eq!(get_item(ctx.clone(), item.id).await.unwrap(), item);

    let dup = create_item(
        ctx,
        CreateItem {
            name: "desk".into(),
            status: ItemStatus::Active,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(dup.code(), Some("ITEM_EXISTS"));
    assert_eq!(dup.status(), 409);

    // Another caller sees none of it.
    let bob = Principal::new("bob", None, "user", vec!["items:*".into()]);
    let ctx = with_caller(context_for::<ItemsPlugin>(state), bob);
    let err = get_item(ctx, item.id).await.unwrap_err();
    assert_eq!(err.code(), Some("ITEM_NOT_FOUND"));
}
