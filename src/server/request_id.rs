//! Request ids: made once per request by the HTTP edge, carried in the `x-request-id` header,
//! the request's tracing span, audit records and every "quote request id …" message.

tokio::task_local! {
    static REQUEST_ID: String;
}

/// A fresh request id (`req_` and 24 hex digits).
pub fn new_request_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("req_{}", hex::encode(bytes))
}

/// Runs `fut` as the request `id`: [`current_request_id`] answers `id` inside it.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The id of the request being served (for error messages), or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

/// Installs the executor Leptos spawns its tasks on: tokio's, with each task carrying the
/// tracing span and the request id of the code that spawned it. A page's resources run as tasks
/// of their own while the page renders; without this their log lines, their database statements
/// and any "quote request id …" they produce would lose the request they serve. Call before
/// the router is built (`build_router` does); a second call changes nothing.
pub fn install_task_executor() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        if any_spawner::Executor::init_custom_executor(RequestScopedTokio).is_err() {
            tracing::debug!("a Leptos executor was already installed; tasks keep no request scope");
        }
    });
}

/// Tokio, with the spawner's request scope carried into each task.
struct RequestScopedTokio;

impl any_spawner::CustomExecutor for RequestScopedTokio {
    fn spawn(&self, fut: any_spawner::PinnedFuture<()>) {
        use tracing::Instrument as _;
        let fut = fut.instrument(tracing::Span::current());
        match REQUEST_ID.try_with(Clone::clone) {
            Ok(id) => tokio::spawn(REQUEST_ID.scope(id, fut)),
            Err(_) => tokio::spawn(fut),
        };
    }

    fn spawn_local(&self, fut: any_spawner::PinnedLocalFuture<()>) {
        use tracing::Instrument as _;
        let fut = fut.instrument(tracing::Span::current());
        match REQUEST_ID.try_with(Clone::clone) {
            Ok(id) => tokio::task::spawn_local(REQUEST_ID.scope(id, fut)),
            Err(_) => tokio::task::spawn_local(fut),
        };
    }

    fn poll_local(&self) {}
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_documented_shape() {
        let id = super::new_request_id();
        assert!(id.starts_with("req_") && id.len() == 28, "{id}");
        assert_eq!(super::current_request_id(), "-");
    }
}
