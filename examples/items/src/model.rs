//! The items API's types. The same `#[garde(...)]` attributes drive validation and the JSON
//! Schema of each input.

use plugin_routes::prelude::*;

/// Whether an item is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// In use.
    Active,
    /// Kept for the record.
    Archived,
}

impl ItemStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Active => "active",
            ItemStatus::Archived => "archived",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ItemStatus::Active),
            "archived" => Some(ItemStatus::Archived),
            _ => None,
        }
    }
}

/// An item.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Assigned by the server.
    pub id: i64,
    /// Unique among items.
    pub name: String,
    /// Whether it is in use.
    pub status: ItemStatus,
    /// When it was created, RFC 3339 in UTC.
    pub created_at: String,
}

/// What `POST /items` takes.
#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateItem {
    /// 1 to 100 characters, unique among items.
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    /// Whether it is in use.
    #[garde(skip)]
    pub status: ItemStatus,
}

/// What `PATCH /items/{id}` takes: the fields to change.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem {
    /// A new name, 1 to 100 characters.
    #[garde(length(chars, min = 1, max = 100))]
    pub name: Option<String>,
    /// A new status.
    #[garde(skip)]
    pub status: Option<ItemStatus>,
}

/// The query of `GET /items`.
#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The page, from 1.
    #[serde(default = "first_page")]
    #[garde(range(min = 1))]
    pub page: u32,
    /// Items per page, 1 to 100.
    #[serde(default = "default_limit")]
    #[garde(range(min = 1, max = 100))]
    pub limit: u32,
    /// Only items with this status.
    #[garde(skip)]
    pub filter: Option<ItemStatus>,
}

fn first_page() -> u32 {
    1
}

fn default_limit() -> u32 {
    20
}

/// One page of items.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ItemPage {
    /// The items on this page.
    pub items: Vec<Item>,
    /// Where the page is.
    pub pagination: Pagination,
}

/// Where a page is in the whole list.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Pagination {
    /// The page, from 1.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
    /// Items in all pages.
    pub total: u64,
}
