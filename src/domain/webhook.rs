//! A webhook or log stream delivery's state.

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
    }
}
