//! Floor 3, the request path: what every route does to a request once it is admitted (its id,
//! its path parameters, input and extractors, the context handed to the handler) and how the
//! outcome becomes a response (the success body, or the one error envelope). Imports only the
//! declared floor.

mod catch;
mod client_addr;
mod ctx;
mod error;
mod input;
mod layer;
mod objects_only;
#[cfg(feature = "auth-store")]
pub(crate) mod outage;
mod principal;
pub(crate) mod query;
mod request_id;
mod respond;
mod stream;
mod wording;

pub(crate) use catch::{CatchUnwind, panic_message};
pub use client_addr::{ClientAddr, TrustedProxies};
pub use ctx::Ctx;
pub(crate) use ctx::forbidden;
#[cfg(feature = "operations")]
pub(crate) use ctx::{Acceptor, OperationCx, ProgressSink};
pub use error::{
    ApiError, Details, FieldError, FrameworkCode, Location, RouteError, RouteResult,
    declared_error, fallback_error,
};
#[cfg(feature = "client")]
pub(crate) use input::field_errors;
pub(crate) use input::{Extractors, InputSource, PathParams, json_bytes};
pub use input::{IsValidated, JsonBody, NoInput, NoParams, PathOf, QueryInput};
pub use layer::{RequestFuture, RequestLayer, RequestService};
pub use principal::Principal;
pub use request_id::{HEADER as REQUEST_ID_HEADER, RequestId};
#[cfg(feature = "operations")]
pub use respond::Accepted;
pub use respond::Responder;
pub use respond::{
    Binary, Conditional, EmptyOutput, Html, IfNoneMatch, NoContent, Output, RawJson, RouteOutput,
    WithHeaders,
};
#[cfg(feature = "operations")]
pub(crate) use stream::event_stream_headers;
pub use stream::{EventStream, StreamEvent};
