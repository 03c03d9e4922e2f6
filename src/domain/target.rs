//! What an audit event is about (a target's `type`).

vocabulary! {
    /// The kind of object an audit event names as a target.
    pub enum TargetKind {
        Organization = "organization",
        Domain = "domain",
        Connection = "connection",
        RedirectUri = "redirect_uri",
        Directory = "directory",
        DirectoryUser = "directory_user",
        DirectoryGroup = "directory_group",
        User = "user",
        Membership = "membership",
        Invitation = "invitation",
        Role = "role",
        SetupLink = "setup_link",
        ApiKey = "api_key",
        WebhookEndpoint = "webhook_endpoint",
        WebhookDelivery = "webhook_delivery",
        LogStream = "log_stream",
        Staff = "staff",
        OauthClient = "oauth_client",
        SigningKey = "signing_key",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        crate::domain::check_vocabulary(TargetKind::ALL, |v| v.as_str(), TargetKind::parse);
    }
}
