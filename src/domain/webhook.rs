//! Webhook and log stream endpoints: what they send, and where a delivery stands.

vocabulary! {
    /// What an endpoint sends (`webhook_endpoints.kind`): a vendor's webhook, or one of the
    /// formats an organization's log stream can send.
    pub enum EndpointKind {
        /// The vendor's webhook (Standard Webhooks).
        Webhook = "webhook",
        /// Generic JSON (HTTPS POST, signed).
        Json = "json",
        /// Splunk HTTP Event Collector.
        SplunkHec = "splunk_hec",
        /// Datadog Logs.
        Datadog = "datadog",
        /// WorkOS's webhook format (`WorkOS-Signature`, events under WorkOS's names and shapes),
        /// for a vendor whose code verifies webhooks with a WorkOS SDK.
        Workos = "workos",
    }
}

vocabulary! {
    /// Where one delivery of an event to an endpoint stands (`webhook_deliveries.state`).
    pub enum DeliveryState {
        /// Waiting for its (next) attempt.
        Pending = "pending",
        /// The endpoint accepted it.
        Succeeded = "succeeded",
        /// Given up after the last retry.
        Failed = "failed",
        /// Dropped: the endpoint was deleted or disabled before it was sent.
        Discarded = "discarded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        crate::domain::check_vocabulary(DeliveryState::ALL, |v| v.as_str(), DeliveryState::parse);
        crate::domain::check_vocabulary(EndpointKind::ALL, |v| v.as_str(), EndpointKind::parse);
    }
}
