//! A vendor staff account's state.

vocabulary! {
    /// Where a staff account stands (`staff.state`).
    pub enum StaffState {
        /// Created or reset: waits for its owner to set a password and TOTP through the link.
        Pending = "pending",
        /// May sign in to the console.
        Active = "active",
        /// Switched off.
        Disabled = "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        crate::domain::check_vocabulary(StaffState::ALL, |v| v.as_str(), StaffState::parse);
    }
}
