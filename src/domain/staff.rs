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

vocabulary! {
    /// What a staff member may do in the console (`staff.role`).
    pub enum StaffRole {
        /// Reads every tenant's health, drift and history; changes nothing.
        Viewer = "viewer",
        /// Reads, and acts (refresh, invite, suspend, rotate).
        Admin = "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        crate::domain::check_vocabulary(StaffState::ALL, |v| v.as_str(), StaffState::parse);
        crate::domain::check_vocabulary(StaffRole::ALL, |v| v.as_str(), StaffRole::parse);
    }
}
