//! [`Lifecycle`]: what a host keeps from starting its plugins to stopping them.

use crate::reach::Placeholders;
use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type StopFn = Box<dyn FnOnce() -> BoxFuture<()> + Send>;
type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the host keeps from starting its plugins to stopping them: what it provides to their
/// `start` hooks (a database pool, a shared client), the state of each plugin started so far,
/// and the `stop` hooks to run, in reverse order, once the server has drained.
///
/// ```ignore
/// let mut life = Lifecycle::new().with(pool.clone());
/// let app = plugins![
///     AiPlugin::start(ai_config, &mut life).await?,      // its state is then provided too
///     CommitPlugin::start(commit_config, &mut life).await?,
/// ];
/// plugin_routes::serve(listener, app).await?;
/// life.stop().await;
/// ```
pub struct Lifecycle {
    provided: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    stops: Vec<(&'static str, StopFn)>,
    started: Vec<&'static str>,
    start_timeout: Duration,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            provided: HashMap::new(),
            stops: Vec::new(),
            started: Vec::new(),
            start_timeout: START_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("provided", &self.provided.len())
            .field("started", &self.started)
            .field("start_timeout", &self.start_timeout)
            .finish_non_exhaustive()
    }
}

impl Lifecycle {
    /// Nothing provided, nothing started.
    pub fn new() -> Self {
        Self::default()
    }

    /// Provides `value` to the `start` hooks (one value per type; a later one replaces it).
    #[must_use]
    pub fn with<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.provide(value);
        self
    }

    /// Bounds each plugin's `start` hook to `wait` (60 s unless set): a hook still running then
    /// is abandoned and its plugin's `start` fails, saying so. A hook waits on what its plugin
    /// needs (its database's migrations, a repository); without a bound, a database that accepts
    /// connections and then answers nothing (a hung server or proxy) would hold the server's
    /// start for as long as TCP keeps the connection, with nothing in its log to say why.
    /// `Duration::MAX` sets no bound. The bound is kept by tokio's timer: the runtime must
    /// have it enabled (`#[tokio::main]` does), and under a paused clock
    /// (`tokio::time::pause`) a hook waiting on real input and output runs past it at once.
    #[must_use]
    pub fn with_start_timeout(mut self, wait: Duration) -> Self {
        self.start_timeout = wait;
        self
    }

    /// How long each plugin's `start` hook may run ([`with_start_timeout`](Self::with_start_timeout)).
    pub fn start_timeout(&self) -> Duration {
        self.start_timeout
    }

    /// Provides `value` to the `start` hooks from now on.
    pub fn provide<T: Send + Sync + 'static>(&mut self, value: T) {
        self.provided.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// What was provided as a `T`, or the state of a started plugin whose state is a `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.provided.get(&TypeId::of::<T>())?.downcast_ref::<T>()
    }

    /// The plugins started through it, in order.
    pub fn started(&self) -> &[&'static str] {
        &self.started
    }

    /// Runs the `stop` hooks of the plugins started through it, the last started first, each
    /// on a task of its own bounded by `STOP_TIMEOUT` (10 s): one that takes longer is abandoned,
    /// one that panics is logged, and the others run either way.
    pub async fn stop(mut self) {
        while let Some((plugin, stop)) = self.stops.pop() {
            let task = tokio::spawn(stop());
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(())) => tracing::info!(plugin, "stopped"),
                Ok(Err(e)) => tracing::error!(plugin, "its stop hook failed: {e}"),
                Err(_) => tracing::error!(
                    plugin,
                    "its stop hook did not finish within {} s and was abandoned",
                    STOP_TIMEOUT.as_secs()
                ),
            }
        }
    }

    /// Used by the generated `start`: the context its hook receives.
    #[doc(hidden)]
    pub fn __starting(&mut self, plugin: &'static str) -> Starting<'_> {
        Starting {
            life: self,
            plugin,
            placeholders: Placeholders::new(),
        }
    }

    /// Used by the generated `start`: records a started plugin, provides its state to the
    /// plugins started after it, and keeps its `stop` hook.
    #[doc(hidden)]
    pub fn __started<S: Send + Sync + 'static>(
        &mut self,
        plugin: &'static str,
        state: &Arc<S>,
        stop: Option<fn(Arc<S>) -> BoxFuture<()>>,
    ) {
        // Provided to later plugins unless a value of that type is already there (the host's,
        // or an earlier plugin's of the same state type): the first stays, and `()` never is.
        let id = TypeId::of::<S>();
        if id != TypeId::of::<()>() {
            match self.provided.entry(id) {
                std::collections::hash_map::Entry::Occupied(_) => tracing::warn!(
                    plugin,
                    "its state is not provided to the plugins started after it: a value of its type already is"
                ),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let shared: Arc<dyn Any + Send + Sync> = Arc::clone(state) as _;
                    slot.insert(shared);
                }
            }
        }
        if let Some(stop) = stop {
            let state = Arc::clone(state);
            self.stops.push((plugin, Box::new(move || stop(state))));
        }
        self.started.push(plugin);
        tracing::info!(plugin, "started");
    }
}

/// How long one `stop` hook may run.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one `start` hook may run unless the host says otherwise.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Used by the generated `start`: the hook's outcome, or `None` when it ran past `wait`
/// (abandoned: dropped where it waited).
#[doc(hidden)]
pub async fn __within_start<T>(wait: Duration, hook: impl Future<Output = T>) -> Option<T> {
    // A wait too long to add to the clock (`Duration::MAX`) arms no timer: tokio's own rule.
    tokio::time::timeout(wait, hook).await.ok()
}

/// What a `start` hook receives besides its configuration: what the host provided, the states
/// of the plugins started before it, and a place to give its `permissions(...)` placeholders
/// their values (the repository a configuration names, say).
#[derive(Debug)]
pub struct Starting<'a> {
    life: &'a mut Lifecycle,
    plugin: &'static str,
    placeholders: Placeholders,
}

impl Starting<'_> {
    /// The plugin being started.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// What the host provided as a `T`, or the state of a plugin started before this one.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.life.get::<T>()
    }

    /// [`get`](Self::get), or an error saying what is missing, for `?` in the hook.
    ///
    /// # Errors
    /// When nothing of type `T` was provided.
    pub fn require<T: Send + Sync + 'static>(&self) -> Result<&T, Missing> {
        self.get::<T>().ok_or(Missing {
            type_name: short_type_name::<T>(),
        })
    }

    /// Gives the placeholder `{name}` of the plugin's `permissions(...)` a value (see the
    /// generated `with_placeholder`).
    pub fn placeholder(&mut self, name: &str, value: impl Into<String>) {
        self.placeholders.insert(name, value);
    }

    /// Gives every placeholder in `values` its values (a placeholder given no value there stays
    /// given, allowing nothing).
    pub fn placeholders(&mut self, values: &Placeholders) {
        self.placeholders.extend(values);
    }

    /// Used by the generated `start`: the placeholders the hook gave values.
    #[doc(hidden)]
    pub fn __into_placeholders(self) -> Placeholders {
        self.placeholders
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    match base.rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

/// What [`Starting::require`] did not find.
#[derive(Debug)]
pub struct Missing {
    type_name: &'static str,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it needs a `{}`, which neither the host provided (Lifecycle::with) nor a plugin started before it",
            self.type_name
        )
    }
}

impl std::error::Error for Missing {}

/// A plugin did not start: its `start` hook's own error, or the hook running past the
/// lifecycle's start timeout ([`StartFailed::is_timeout`]), with the plugin named. The server
/// stops before it listens.
#[derive(Debug)]
pub struct StartFailed {
    plugin: &'static str,
    source: Error,
}

impl StartFailed {
    /// Plugin `plugin` cannot start because of `source`.
    pub fn new(plugin: &'static str, source: impl Into<Error>) -> Self {
        StartFailed {
            plugin,
            source: source.into(),
        }
    }

    /// Plugin `plugin`'s start hook ran past `wait` and was abandoned.
    #[doc(hidden)]
    pub fn timed_out(plugin: &'static str, wait: Duration) -> Self {
        StartFailed::new(plugin, StartTimedOut { wait })
    }

    /// Whether the plugin's start hook ran past [`Lifecycle::with_start_timeout`] and was
    /// abandoned, rather than refusing.
    pub fn is_timeout(&self) -> bool {
        self.source.is::<StartTimedOut>()
    }

    /// The plugin that did not start.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }
}

impl std::fmt::Display for StartFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin `{}` cannot start: {}", self.plugin, self.source)
    }
}

impl std::error::Error for StartFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// A start hook that ran past its bound.
#[derive(Debug)]
struct StartTimedOut {
    wait: Duration,
}

impl std::fmt::Display for StartTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let wait = self.wait;
        if wait.subsec_nanos() == 0 {
            write!(
                f,
                "its start hook did not finish within {} s",
                wait.as_secs()
            )?;
        } else if wait.subsec_nanos().is_multiple_of(1_000_000) {
            write!(
                f,
                "its start hook did not finish within {} ms",
                wait.as_millis()
            )?;
        } else {
            write!(f, "its start hook did not finish within {wait:?}")?;
        }
        f.write_str(
            " and was abandoned: what it waits on does not answer (a database that accepts \
             connections but answers nothing, say), or its work takes longer than that (a long \
             migration); `Lifecycle::with_start_timeout` sets the bound",
        )
    }
}

impl std::error::Error for StartTimedOut {}

/// Whether a plugin can serve now, as its `ready` hook answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// It can.
    Ready,
    /// It cannot yet (or no longer), and why: shown in the readiness route's answer, so say
    /// nothing secret.
    NotReady(Cow<'static, str>),
}

impl Readiness {
    /// Not ready, because of `reason`.
    pub fn not_ready(reason: impl Into<Cow<'static, str>>) -> Self {
        Readiness::NotReady(reason.into())
    }

    /// Whether it is [`Readiness::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }
}

/// A plugin's `ready` hook, bound to its state: what the readiness route asks.
#[derive(Clone)]
pub struct ReadyCheck {
    plugin: &'static str,
    check: Arc<dyn Fn() -> BoxFuture<Readiness> + Send + Sync>,
}

impl std::fmt::Debug for ReadyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyCheck")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

/// How long a `ready` hook may take before its plugin counts as not ready: under Kubernetes'
/// default probe timeout (1 s), the hooks being asked at once.
const READY_TIMEOUT: Duration = Duration::from_millis(800);

impl ReadyCheck {
    /// Used by the generated plugin: `hook` called with `state` whenever the route is asked.
    #[doc(hidden)]
    pub fn __new<S: Send + Sync + 'static>(
        plugin: &'static str,
        state: Arc<S>,
        hook: fn(Arc<S>) -> BoxFuture<Readiness>,
    ) -> Self {
        ReadyCheck {
            plugin,
            check: Arc::new(move || hook(Arc::clone(&state))),
        }
    }

    /// The plugin it asks.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// Asks the hook on a task of its own, giving up after 800 ms (not ready, then; a hook that
    /// panics is not ready either).
    pub async fn ask(&self) -> Readiness {
        let task = tokio::spawn((self.check)());
        match tokio::time::timeout(READY_TIMEOUT, task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Readiness::not_ready("its ready hook failed"),
            Err(_) => Readiness::not_ready(format!(
                "its ready hook did not answer within {} ms",
                READY_TIMEOUT.as_millis()
            )),
        }
    }
}
