//! The context a handler receives: its plugin's state, the request id and what is being served.

use super::error::{ApiError, Details, FrameworkCode, RouteError};
use super::principal::Principal;
use super::request_id::RequestId;
use crate::declare::{PluginMeta, RouteMeta};
use crate::reach::Reach;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A handler's context: the state of its plugin (`S`), the request id, the plugin and the route.
///
/// Take it as an argument of type `Ctx<YourState>`; the plugin that lists the route must have
/// `state = YourState`. It dereferences to the state, so `ctx.db` reaches a field of it.
pub struct Ctx<S> {
    state: Arc<S>,
    request_id: RequestId,
    plugin: &'static PluginMeta,
    route: &'static RouteMeta,
    principal: Option<Arc<Principal>>,
    /// What the handler's code may reach; `None` when its permissions allow nothing.
    reach: Option<Reach>,
    /// Where an operation's handler reports progress, or where an operation route's request
    /// is accepted (feature `operations`).
    #[cfg(feature = "operations")]
    operation: Option<OperationCx>,
}

/// What an operation route's context carries besides the rest (feature `operations`).
#[cfg(feature = "operations")]
#[derive(Clone)]
pub(crate) enum OperationCx {
    /// The request that starts it: who accepts it, and the path it came to.
    Accepting(Arc<dyn Acceptor>, Arc<str>),
    /// The run: where its progress goes.
    Running(ProgressSink),
}

/// What starts an operation from its accepted request (implemented where operations are
/// mounted): stores the input (the path parameters and the input, as JSON) under the caller
/// and queues it.
#[cfg(feature = "operations")]
pub(crate) trait Acceptor: Send + Sync + 'static {
    fn accept<'a>(
        &'a self,
        caller: Option<&'a Principal>,
        request_id: &'a RequestId,
        path: &'a str,
        input: String,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<super::Accepted, ApiError>> + Send + 'a>,
    >;
}

/// Where an operation's progress reports go: to the task that writes them, in order.
#[cfg(feature = "operations")]
#[derive(Clone, Debug)]
pub(crate) struct ProgressSink(tokio::sync::mpsc::UnboundedSender<(Option<f64>, String)>);

#[cfg(feature = "operations")]
impl ProgressSink {
    pub(crate) fn new(tx: tokio::sync::mpsc::UnboundedSender<(Option<f64>, String)>) -> Self {
        ProgressSink(tx)
    }
}

impl<S> Ctx<S> {
    pub(crate) fn new(
        state: Arc<S>,
        request_id: RequestId,
        plugin: &'static PluginMeta,
        route: &'static RouteMeta,
        principal: Option<Arc<Principal>>,
    ) -> Self {
        Ctx {
            state,
            request_id,
            plugin,
            route,
            principal,
            reach: None,
            #[cfg(feature = "operations")]
            operation: None,
        }
    }

    /// Makes it the context of an operation's request or run.
    #[cfg(feature = "operations")]
    pub(crate) fn with_operation(mut self, operation: Option<OperationCx>) -> Self {
        self.operation = operation;
        self
    }

    /// Where an operation's request is accepted, with the path it came to.
    #[cfg(feature = "operations")]
    pub(crate) fn acceptor(&self) -> Option<(&dyn Acceptor, &str)> {
        match &self.operation {
            Some(OperationCx::Accepting(a, path)) => Some((&**a, path)),
            _ => None,
        }
    }

    /// Reports how far the operation is, for its clients to read and watch: `fraction` from 0
    /// to 1 when the handler knows it (`None` otherwise), and what it is doing. Reports are
    /// kept in order, every one of them, and each is an event of the operation's stream.
    /// Outside an operation (a route that is not `operation`, a handler called in a test) it
    /// does nothing, so one handler serves both.
    ///
    /// ```ignore
    /// ctx.progress(Some(0.5), format!("pushed {done} of {total} commits"));
    /// ```
    pub fn progress(&self, fraction: Option<f64>, message: impl Into<String>) {
        #[cfg(feature = "operations")]
        if let Some(OperationCx::Running(sink)) = &self.operation {
            let fraction = fraction
                .filter(|f| f.is_finite())
                .map(|f| f.clamp(0.0, 1.0));
            // The run is over when its receiver is gone; a report after it has nowhere to go.
            let _ = sink.0.send((fraction, message.into()));
        }
        #[cfg(not(feature = "operations"))]
        let _ = (fraction, message);
    }

    /// Gives the handler the handle of its route's `permissions(...)`.
    #[must_use]
    pub fn with_reach(mut self, reach: Option<Reach>) -> Self {
        self.reach = reach;
        self
    }

    /// The one door from the handler's code to processes, files, the network and the
    /// environment, holding exactly what its route's `permissions(...)` declare (the route's,
    /// else its plugin's), placeholders filled in when the server was assembled. Every program
    /// started through it runs, on Linux with Landlock, confined by the kernel to the same
    /// declarations (see [`crate::reach`]).
    ///
    /// What it refuses is a [`Refused`](crate::reach::Refused): logged once, naming the route,
    /// the kind and what was asked, and with `?` a `500 INTERNAL` to the client.
    ///
    /// ```ignore
    /// let out = ctx.reach().command("git")?.arg("status").current_dir(&repo)?.output().await?;
    /// ```
    pub fn reach(&self) -> Reach {
        match &self.reach {
            Some(reach) => reach.clone(),
            None => Reach::none(self.route.label(self.plugin)),
        }
    }

    pub(crate) fn with_principal(mut self, principal: Option<Arc<Principal>>) -> Self {
        self.principal = principal;
        self
    }

    /// Who is calling. `Some` on every route that is not `security(none)`: the framework has
    /// authenticated the caller and checked the route's `scopes` before the handler runs.
    /// `None` on a public route.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_deref()
    }

    /// Who is calling, on a route that is not public: the principal, or an internal error
    /// (500) if there is none, which only happens when the handler is called by hand without
    /// one or its route is public. Lets a handler write `ctx.caller()?.user_id()`.
    ///
    /// # Errors
    /// When there is no caller.
    pub fn caller(&self) -> Result<&Principal, RouteError> {
        self.principal().ok_or_else(|| {
            RouteError::internal(format!(
                "route {} of plugin {} needs a caller and has none (is it `security(none)`?)",
                self.route.handler, self.plugin.name
            ))
        })
    }

    /// Checks that the caller holds every one of `scopes` (directly or through a wildcard), for
    /// what a handler decides to do beyond what its route's `scopes` already required: ask
    /// a model, honour an option that needs more rights. Answers the framework's own
    /// `403 FORBIDDEN`, with the scopes it lacks in `details.missingScopes`, exactly as the
    /// route-level check does; a route whose `scopes` are not empty documents that answer.
    ///
    /// ```ignore
    /// if input.allowSecrets {
    ///     ctx.require_scopes(&["commit:write"])?;
    /// }
    /// ```
    ///
    /// # Errors
    /// `403 FORBIDDEN` when a scope is missing; an internal error when there is no caller (see
    /// [`Ctx::caller`]).
    pub fn require_scopes(&self, scopes: &[&str]) -> Result<(), RouteError> {
        let principal = self.caller()?;
        let missing: Vec<&str> = scopes
            .iter()
            .copied()
            .filter(|s| !principal.has_scope(s))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(RouteError::framework(forbidden(&missing)))
        }
    }

    /// The plugin's state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The plugin's state, shared; clone it to move it into a spawned task.
    pub fn shared_state(&self) -> &Arc<S> {
        &self.state
    }

    /// The request id itself.
    #[cfg(feature = "operations")]
    pub(crate) fn request_id_value(&self) -> &RequestId {
        &self.request_id
    }

    /// This request's id, as sent back in `x-request-id` and in error bodies.
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    /// The W3C `traceparent` to send on a call made for this request (an upstream API, a git
    /// remote over HTTP), with the request's server span as the caller's parent; `None` when the
    /// server does not trace (feature `otel` and `ServerConfig::with_tracer_provider`).
    /// Unlike [`traceparent`](crate::traceparent), it works wherever the context is, also in a
    /// stream's body after the handler returned.
    pub fn traceparent(&self) -> Option<http::HeaderValue> {
        self.request_id.traceparent()
    }

    /// The plugin serving the request (name, version, base path…).
    pub fn plugin(&self) -> &'static PluginMeta {
        self.plugin
    }

    /// The route serving the request (method, path, declared errors…).
    pub fn route(&self) -> &'static RouteMeta {
        self.route
    }
}

/// `403 FORBIDDEN`, listing the scopes the caller lacks in `details.missingScopes`: the one
/// wording, whether the route's `scopes` or the handler ([`Ctx::require_scopes`]) asked.
pub(crate) fn forbidden(missing: &[&str]) -> ApiError {
    ApiError::framework(
        FrameworkCode::Forbidden,
        format!("this needs the scopes {}", missing.join(", ")),
    )
    .with_details(Details::Value(
        serde_json::json!({ "missingScopes": missing }),
    ))
}

impl<S> Deref for Ctx<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> Clone for Ctx<S> {
    fn clone(&self) -> Self {
        Ctx {
            state: Arc::clone(&self.state),
            request_id: self.request_id.clone(),
            plugin: self.plugin,
            route: self.route,
            principal: self.principal.clone(),
            reach: self.reach.clone(),
            #[cfg(feature = "operations")]
            operation: self.operation.clone(),
        }
    }
}

impl<S> fmt::Debug for Ctx<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("plugin", &self.plugin.name)
            .field("route", &self.route.handler)
            .field("request_id", &self.request_id.as_str())
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}
