//! OpenID Connect relying party on top of openidconnect 4: discovery, the authorization request
//! (code flow, PKCE S256, state, nonce) and the token exchange with ID token validation (exact
//! issuer and audience, RS256/ES256/PS256 only, nonce, expiry). Failures carry evidence for the
//! admin's test page.

use base64::Engine as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::outbound::Outbound;

/// A relying-party configuration.
#[derive(Debug, Clone)]
pub struct RpConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

/// A failed step, with a stable reason and evidence in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcFailure {
    /// `discovery_failed`, `token_exchange_failed`, `invalid_id_token`, `issuer_mismatch`,
    /// `audience_mismatch`, `nonce_mismatch`, `expired`, `signature_invalid`, `idp_error`, …
    pub reason: String,
    pub message: String,
}

impl OidcFailure {
    fn new(reason: &str, message: impl Into<String>) -> Self {
        OidcFailure {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// What the IdP asserted, after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub groups: Vec<String>,
    /// Every claim of the ID token.
    pub raw: serde_json::Value,
}

/// Where to send the browser and what to remember until it returns.
#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 6] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// Fetches the discovery document and the JWKS it names. The document's issuer must equal the
/// configured one exactly.
pub async fn discover(
    outbound: &Outbound,
    issuer: &str,
) -> Result<CoreProviderMetadata, OidcFailure> {
    let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|_| {
        OidcFailure::new(
            "invalid_issuer",
            format!("{issuer} is not a valid issuer URL"),
        )
    })?;
    outbound
        .check_url(issuer)
        .map_err(|e| OidcFailure::new("discovery_refused", e.to_string()))?;
    CoreProviderMetadata::discover_async(issuer_url, outbound)
        .await
        .map_err(|e| {
            let detail = match &e {
                openidconnect::DiscoveryError::Request(inner) => inner.to_string(),
                openidconnect::DiscoveryError::Validation(m) => format!("the discovery document is invalid: {m}"),
                other => other.to_string(),
            };
            OidcFailure::new(
                "discovery_failed",
                format!("OpenID discovery at {issuer}/.well-known/openid-configuration failed: {detail}"),
            )
        })
}

macro_rules! rp_client {
    ($meta:expr, $cfg:expr) => {{
        let redirect = RedirectUrl::new($cfg.redirect_uri.clone()).map_err(|_| {
            OidcFailure::new("invalid_redirect_uri", "Lanyard's callback URL is invalid")
        })?;
        CoreClient::from_provider_metadata(
            $meta,
            ClientId::new($cfg.client_id.clone()),
            Some(ClientSecret::new($cfg.client_secret.clone())),
        )
        .set_redirect_uri(redirect)
    }};
}

/// Builds the authorization request (code flow, PKCE S256, random state and nonce).
pub fn start(
    meta: CoreProviderMetadata,
    cfg: &RpConfig,
    force_authn: bool,
) -> Result<Started, OidcFailure> {
    let client = rp_client!(meta, cfg);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if force_authn {
        req = req.add_prompt(openidconnect::core::CoreAuthPrompt::Login);
    }
    let (url, state, nonce) = req.url();
    Ok(Started {
        url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// How long discovery documents and JWKS are reused.
pub const METADATA_TTL_MS: i64 = 10 * 60 * 1000;
/// At most one forced JWKS refetch per issuer in this window (an unknown `kid` must not let a
/// client make Lanyard hammer the IdP).
pub const FORCED_REFETCH_INTERVAL_MS: i64 = 60 * 1000;

#[derive(Clone)]
struct Cached {
    meta: CoreProviderMetadata,
    fetched_at: i64,
    last_forced: Option<i64>,
}

/// Discovery documents and their JWKS per issuer, reused for [`METADATA_TTL_MS`] and refetched
/// early when an ID token names a key the cached JWKS does not have.
#[derive(Default)]
pub struct MetadataCache {
    inner: std::sync::Mutex<std::collections::HashMap<String, Cached>>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetadataCache")
    }
}

impl MetadataCache {
    /// The issuer's metadata, from the cache when fresh.
    pub async fn get(
        &self,
        outbound: &Outbound,
        issuer: &str,
        now: i64,
    ) -> Result<CoreProviderMetadata, OidcFailure> {
        if let Some(c) = self
            .lock()
            .get(issuer)
            .filter(|c| now - c.fetched_at < METADATA_TTL_MS)
        {
            return Ok(c.meta.clone());
        }
        let meta = discover(outbound, issuer).await?;
        let last_forced = self.lock().get(issuer).and_then(|c| c.last_forced);
        self.lock().insert(
            issuer.to_owned(),
            Cached {
                meta: meta.clone(),
                fetched_at: now,
                last_forced,
            },
        );
        Ok(meta)
    }

    /// Refetches after an unknown key, unless that happened less than a minute ago.
    pub async fn refresh_for_unknown_key(
        &self,
        outbound: &Outbound,
        issuer: &str,
        now: i64,
    ) -> Result<Option<CoreProviderMetadata>, OidcFailure> {
        let recent = self
            .lock()
            .get(issuer)
            .and_then(|c| c.last_forced)
            .is_some_and(|t| now - t < FORCED_REFETCH_INTERVAL_MS);
        if recent {
            return Ok(None);
        }
        let meta = discover(outbound, issuer).await?;
        self.lock().insert(
            issuer.to_owned(),
            Cached {
                meta: meta.clone(),
                fetched_at: now,
                last_forced: Some(now),
            },
        );
        Ok(Some(meta))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Cached>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Exchanges the code and validates the ID token; an unknown signing key triggers one
/// rate-limited JWKS refetch and a second verification (never a second code exchange).
pub async fn finish(
    outbound: &Outbound,
    cache: &MetadataCache,
    now: i64,
    cfg: &RpConfig,
    code: &str,
    nonce: &str,
    pkce_verifier: &str,
) -> Result<Identity, OidcFailure> {
    let meta = cache.get(outbound, &cfg.issuer, now).await?;
    let client = rp_client!(meta, cfg);
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| {
            OidcFailure::new(
                "token_exchange_failed",
                format!("the IdP has no token endpoint: {e}"),
            )
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
    let tokens = request.request_async(outbound).await.map_err(|e| {
        let detail = match &e {
            openidconnect::RequestTokenError::ServerResponse(r) => format!(
                "the IdP refused the code: {}{}",
                r.error(),
                r.error_description()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            openidconnect::RequestTokenError::Request(inner) => inner.to_string(),
            openidconnect::RequestTokenError::Parse(p, _) => {
                format!("the token response is not valid: {p}")
            }
            other => other.to_string(),
        };
        OidcFailure::new("token_exchange_failed", detail)
    })?;
    let id_token = tokens.id_token().ok_or_else(|| {
        OidcFailure::new(
            "invalid_id_token",
            "the IdP returned no ID token; is the openid scope allowed for this app?",
        )
    })?;
    // openidconnect checks exp and iat against the system clock (with its own small skew).
    let verifier = client.id_token_verifier().set_allowed_algs(ALLOWED_ALGS);
    let nonce = Nonce::new(nonce.to_owned());
    let claims = match id_token.claims(&verifier, &nonce) {
        Ok(c) => c.clone(),
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(
            openidconnect::SignatureVerificationError::NoMatchingKey,
        )) => {
            let Some(fresh) = cache
                .refresh_for_unknown_key(outbound, &cfg.issuer, now)
                .await?
            else {
                return Err(OidcFailure::new(
                    "signature_invalid",
                    "the ID token is signed with a key the IdP does not publish (its JWKS was refetched less than a minute ago)",
                ));
            };
            let fresh_client = rp_client!(fresh, cfg);
            let fresh_verifier = fresh_client
                .id_token_verifier()
                .set_allowed_algs(ALLOWED_ALGS);
            id_token
                .claims(&fresh_verifier, &nonce)
                .map_err(|e| classify(&e, &cfg.issuer, &cfg.client_id))?
                .clone()
        }
        Err(e) => return Err(classify(&e, &cfg.issuer, &cfg.client_id)),
    };
    let raw = decode_payload(&id_token.to_string()).unwrap_or_default();
    let groups = raw
        .get("groups")
        .and_then(|g| g.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(Identity {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified(),
        first_name: claims
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        last_name: claims
            .family_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        groups,
        raw,
    })
}

fn classify(
    e: &openidconnect::ClaimsVerificationError,
    issuer: &str,
    client_id: &str,
) -> OidcFailure {
    use openidconnect::ClaimsVerificationError as E;
    match e {
        E::InvalidIssuer(m) => {
            OidcFailure::new("issuer_mismatch", format!("expected issuer {issuer}; {m}"))
        }
        E::InvalidAudience(m) => OidcFailure::new(
            "audience_mismatch",
            format!("expected audience {client_id}; {m}"),
        ),
        E::InvalidNonce(m) => OidcFailure::new(
            "nonce_mismatch",
            format!("the ID token's nonce does not match this sign-in: {m}"),
        ),
        E::Expired(m) => OidcFailure::new("expired", format!("the ID token has expired: {m}")),
        E::SignatureVerification(s) => OidcFailure::new(
            "signature_invalid",
            format!("the ID token's signature is not valid: {s}"),
        ),
        E::Unsupported(m) => OidcFailure::new("signature_invalid", format!("unsupported: {m}")),
        other => OidcFailure::new("invalid_id_token", other.to_string()),
    }
}

/// The (already verified) JWT payload as JSON.
fn decode_payload(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
