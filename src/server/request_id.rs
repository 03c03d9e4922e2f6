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

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_documented_shape() {
        let id = super::new_request_id();
        assert!(id.starts_with("req_") && id.len() == 28, "{id}");
        assert_eq!(super::current_request_id(), "-");
    }
}
