//! The refusals an operation can answer before its handler runs: the bearer key check, the
//! `Idempotency-Key` replay cache (POST) and the path, query and JSON body extractors. Each is
//! declared once here; an operation names the set that matches its inputs first in its
//! `responses(…)`, and its own outcomes after (a status the operation declares itself keeps its
//! own description).

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::extract::MAX_BODY_BYTES;

/// A layer in front of a handler that can refuse the request.
#[derive(Clone, Copy)]
enum Layer {
    /// `authenticate`: every operation.
    Bearer,
    /// A `{id}` (or `{slug}`) path parameter.
    PathParam,
    /// `ApiQuery`.
    Query,
    /// `ApiJson`.
    JsonBody,
    /// The `Idempotency-Key` middleware: every POST.
    Idempotency,
}

impl Layer {
    /// (status, why) of each refusal.
    fn refusals(self) -> Vec<(u16, String)> {
        match self {
            Layer::Bearer => vec![
                (401, "`unauthorized`: no `Authorization: Bearer` API key, or one that is unknown or revoked".into()),
                (429, "`rate_limited`: this API key's requests of the minute, or this address's failed authentications, are used up".into()),
            ],
            Layer::PathParam => vec![(
                400,
                "`bad_request`: a path parameter is not UTF-8 once percent-decoded, or holds a NUL character".into(),
            )],
            Layer::Query => vec![(
                400,
                "`invalid_query`: a query parameter has the wrong type or holds a NUL character, or a required one is missing".into(),
            )],
            Layer::JsonBody => vec![
                (400, "`invalid_json`: the body is not JSON".into()),
                (413, format!("`payload_too_large`: the body is over {MAX_BODY_BYTES} bytes")),
                (415, "`unsupported_media_type`: the body is not `Content-Type: application/json`".into()),
                (422, "`invalid_field`: a field is missing, unknown, of the wrong type, holds a NUL character or is refused; `field` names it".into()),
            ],
            Layer::Idempotency => vec![
                (400, "`invalid_idempotency_key`: the `Idempotency-Key` is empty, longer than 255 characters or not printable ASCII".into()),
                (409, "`idempotency_request_in_progress`: a request with this `Idempotency-Key` is still running; `idempotency_replay_unavailable`: its stored answer cannot be read".into()),
                (413, format!("`payload_too_large`: with an `Idempotency-Key`, the body is over {MAX_BODY_BYTES} bytes")),
                (422, "`idempotency_key_reused`: this `Idempotency-Key` came with a different request".into()),
            ],
        }
    }
}

/// The responses of `layers`, the reasons for one status joined.
fn responses(layers: &[Layer]) -> BTreeMap<String, RefOr<Response>> {
    let mut why: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for layer in layers {
        for (status, reason) in layer.refusals() {
            why.entry(status).or_default().push(reason);
        }
    }
    why.into_iter()
        .map(|(status, reasons)| {
            let response = ResponseBuilder::new()
                .description(reasons.join("; "))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

macro_rules! refusal_sets {
    ($($(#[$doc:meta])* $name:ident = [$($layer:ident),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                responses(&[$(Layer::$layer),*])
            }
        }
    )*};
}

refusal_sets! {
    /// GET without parameters.
    KeyOnly = [Bearer];
    /// GET or DELETE of `…/{id}`.
    IdPath = [Bearer, PathParam];
    /// GET or DELETE with a query string.
    QueryString = [Bearer, Query];
    /// GET of `…/{id}/…` with a query string.
    IdPathQuery = [Bearer, PathParam, Query];
    /// POST with a JSON body.
    JsonPost = [Bearer, JsonBody, Idempotency];
    /// POST with a JSON body to `…/{id}/…`.
    IdJsonPost = [Bearer, PathParam, JsonBody, Idempotency];
    /// POST without a body to `…/{id}/…`.
    IdPost = [Bearer, PathParam, Idempotency];
    /// PATCH or PUT with a JSON body to `…/{id}…`.
    IdJson = [Bearer, PathParam, JsonBody];
}
