//! Every event Lanyard records: the audit trail's `action`, the webhook and log stream event
//! type, the activity feeds' words. One enum, so an event name cannot be misspelt at one call
//! site and the list of names is here to read.

use std::fmt;

/// An audit/event action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `organization.created`: Organization created.
    OrganizationCreated,
    /// `organization.updated`: Organization details changed.
    OrganizationUpdated,
    /// `organization.deleted`: Organization deleted.
    OrganizationDeleted,
    /// `portal.link_created`: Setup link created.
    PortalLinkCreated,
    /// `portal.link_redeemed`: Setup link opened.
    PortalLinkRedeemed,
    /// `domain.created`: Domain added.
    DomainCreated,
    /// `domain.verified`: Domain verified.
    DomainVerified,
    /// `domain.verification_failed`: Domain verification failed.
    DomainVerificationFailed,
    /// `domain.lapsed`: Domain lapsed (verification record missing).
    DomainLapsed,
    /// `domain.deleted`: Domain removed.
    DomainDeleted,
    /// `connection.created`: SSO connection added.
    ConnectionCreated,
    /// `connection.updated`: SSO connection changed.
    ConnectionUpdated,
    /// `connection.activated`: SSO connection activated.
    ConnectionActivated,
    /// `connection.deactivated`: SSO connection deactivated.
    ConnectionDeactivated,
    /// `connection.tested`: Test sign-in succeeded.
    ConnectionTested,
    /// `connection.deleted`: SSO connection removed.
    ConnectionDeleted,
    /// `connection.certificate_expiring`: Connection certificate expiring.
    ConnectionCertificateExpiring,
    /// `redirect_uri.added`: Redirect uri added.
    RedirectUriAdded,
    /// `redirect_uri.removed`: Redirect uri removed.
    RedirectUriRemoved,
    /// `authentication.succeeded`: Sign-in.
    AuthenticationSucceeded,
    /// `authentication.failed`: Sign-in refused.
    AuthenticationFailed,
    /// `session.logout_requested`: Session logout requested (single logout).
    SessionLogoutRequested,
    /// `membership.created`: Member joined.
    MembershipCreated,
    /// `membership.updated`: Membership updated.
    MembershipUpdated,
    /// `membership.role_changed`: Member's role changed.
    MembershipRoleChanged,
    /// `membership.suspended`: Member suspended.
    MembershipSuspended,
    /// `membership.reactivated`: Member reactivated.
    MembershipReactivated,
    /// `membership.removed`: Member removed.
    MembershipRemoved,
    /// `membership.last_admin_deprovisioned`: Directory deactivated the last admin.
    MembershipLastAdminDeprovisioned,
    /// `membership.removal_skipped`: Scheduled removal skipped.
    MembershipRemovalSkipped,
    /// `directory.created`: Directory added.
    DirectoryCreated,
    /// `directory.updated`: Directory settings changed.
    DirectoryUpdated,
    /// `directory.deleted`: Directory removed.
    DirectoryDeleted,
    /// `directory.token_rotated`: Directory token replaced.
    DirectoryTokenRotated,
    /// `directory.role_mappings_updated`: Group-to-role mapping changed.
    DirectoryRoleMappingsUpdated,
    /// `dsync.user.created`: Directory added a person.
    DsyncUserCreated,
    /// `dsync.user.updated`: Directory updated a person.
    DsyncUserUpdated,
    /// `dsync.user.deactivated`: Directory deactivated a person.
    DsyncUserDeactivated,
    /// `dsync.user.reactivated`: Directory reactivated a person.
    DsyncUserReactivated,
    /// `dsync.user.deleted`: Directory removed a person.
    DsyncUserDeleted,
    /// `dsync.group.created`: Directory added a group.
    DsyncGroupCreated,
    /// `dsync.group.updated`: Directory renamed a group.
    DsyncGroupUpdated,
    /// `dsync.group.deleted`: Directory removed a group.
    DsyncGroupDeleted,
    /// `dsync.group.user_added`: Directory added someone to a group.
    DsyncGroupUserAdded,
    /// `dsync.group.user_removed`: Directory removed someone from a group.
    DsyncGroupUserRemoved,
    /// `invitation.created`: Invitation sent.
    InvitationCreated,
    /// `invitation.resent`: Invitation sent again.
    InvitationResent,
    /// `invitation.revoked`: Invitation revoked.
    InvitationRevoked,
    /// `invitation.accepted`: Invitation accepted.
    InvitationAccepted,
    /// `invitation.expired`: Invitation expired.
    InvitationExpired,
    /// `log_stream.created`: Log stream added.
    LogStreamCreated,
    /// `log_stream.deleted`: Log stream removed.
    LogStreamDeleted,
    /// `log_stream.tested`: Log stream tested.
    LogStreamTested,
    /// `webhook_endpoint.created`: Webhook endpoint created.
    WebhookEndpointCreated,
    /// `webhook_endpoint.updated`: Webhook endpoint updated.
    WebhookEndpointUpdated,
    /// `webhook_endpoint.deleted`: Webhook endpoint deleted.
    WebhookEndpointDeleted,
    /// `webhook_endpoint.secret_rotated`: Webhook endpoint secret rotated.
    WebhookEndpointSecretRotated,
    /// `webhook_endpoint.disabled`: Webhook endpoint disabled.
    WebhookEndpointDisabled,
    /// `webhook_endpoint.redelivery_requested`: Webhook endpoint redelivery requested.
    WebhookEndpointRedeliveryRequested,
    /// `api_key.created`: Api key created.
    ApiKeyCreated,
    /// `api_key.revoked`: Api key revoked.
    ApiKeyRevoked,
    /// `audit.purged`: Old activity purged (retention).
    AuditPurged,
    /// `audit.exported`: Audit exported.
    AuditExported,
    /// `role.created`: Role defined.
    RoleCreated,
    /// `role.deleted`: Role deleted.
    RoleDeleted,
    /// `policy.updated`: Access policy changed.
    PolicyUpdated,
    /// `staff.created`: Staff account created.
    StaffCreated,
    /// `staff.setup_completed`: Staff setup completed.
    StaffSetupCompleted,
    /// `staff.signed_in`: Staff signed in.
    StaffSignedIn,
    /// `staff.sign_in_failed`: Staff sign-in refused.
    StaffSignInFailed,
    /// `staff.sign_in_failures_alert`: Many failed staff sign-ins: owner warned.
    StaffSignInFailuresAlert,
    /// `staff.reset`: Staff reset.
    StaffReset,
    /// `staff.disabled`: Staff disabled.
    StaffDisabled,
    /// `oauth_client.created`: OAuth client created.
    OauthClientCreated,
    /// `oauth_client.updated`: OAuth client updated.
    OauthClientUpdated,
    /// `oauth_client.deleted`: OAuth client deleted.
    OauthClientDeleted,
    /// `oauth_client.secret_rotated`: OAuth client secret rotated.
    OauthClientSecretRotated,
    /// `signing_key.rotated`: Signing key rotated.
    SigningKeyRotated,
}

impl EventType {
    /// Every event type, in the order above.
    pub const ALL: &'static [EventType] = &[
        EventType::OrganizationCreated,
        EventType::OrganizationUpdated,
        EventType::OrganizationDeleted,
        EventType::PortalLinkCreated,
        EventType::PortalLinkRedeemed,
        EventType::DomainCreated,
        EventType::DomainVerified,
        EventType::DomainVerificationFailed,
        EventType::DomainLapsed,
        EventType::DomainDeleted,
        EventType::ConnectionCreated,
        EventType::ConnectionUpdated,
        EventType::ConnectionActivated,
        EventType::ConnectionDeactivated,
        EventType::ConnectionTested,
        EventType::ConnectionDeleted,
        EventType::ConnectionCertificateExpiring,
        EventType::RedirectUriAdded,
        EventType::RedirectUriRemoved,
        EventType::AuthenticationSucceeded,
        EventType::AuthenticationFailed,
        EventType::SessionLogoutRequested,
        EventType::MembershipCreated,
        EventType::MembershipUpdated,
        EventType::MembershipRoleChanged,
        EventType::MembershipSuspended,
        EventType::MembershipReactivated,
        EventType::MembershipRemoved,
        EventType::MembershipLastAdminDeprovisioned,
        EventType::MembershipRemovalSkipped,
        EventType::DirectoryCreated,
        EventType::DirectoryUpdated,
        EventType::DirectoryDeleted,
        EventType::DirectoryTokenRotated,
        EventType::DirectoryRoleMappingsUpdated,
        EventType::DsyncUserCreated,
        EventType::DsyncUserUpdated,
        EventType::DsyncUserDeactivated,
        EventType::DsyncUserReactivated,
        EventType::DsyncUserDeleted,
        EventType::DsyncGroupCreated,
        EventType::DsyncGroupUpdated,
        EventType::DsyncGroupDeleted,
        EventType::DsyncGroupUserAdded,
        EventType::DsyncGroupUserRemoved,
        EventType::InvitationCreated,
        EventType::InvitationResent,
        EventType::InvitationRevoked,
        EventType::InvitationAccepted,
        EventType::InvitationExpired,
        EventType::LogStreamCreated,
        EventType::LogStreamDeleted,
        EventType::LogStreamTested,
        EventType::WebhookEndpointCreated,
        EventType::WebhookEndpointUpdated,
        EventType::WebhookEndpointDeleted,
        EventType::WebhookEndpointSecretRotated,
        EventType::WebhookEndpointDisabled,
        EventType::WebhookEndpointRedeliveryRequested,
        EventType::ApiKeyCreated,
        EventType::ApiKeyRevoked,
        EventType::AuditPurged,
        EventType::AuditExported,
        EventType::RoleCreated,
        EventType::RoleDeleted,
        EventType::PolicyUpdated,
        EventType::StaffCreated,
        EventType::StaffSetupCompleted,
        EventType::StaffSignedIn,
        EventType::StaffSignInFailed,
        EventType::StaffSignInFailuresAlert,
        EventType::StaffReset,
        EventType::StaffDisabled,
        EventType::OauthClientCreated,
        EventType::OauthClientUpdated,
        EventType::OauthClientDeleted,
        EventType::OauthClientSecretRotated,
        EventType::SigningKeyRotated,
    ];

    /// Wire name (stored in `audit_events.action`, sent to webhooks and log streams).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::OrganizationCreated => "organization.created",
            EventType::OrganizationUpdated => "organization.updated",
            EventType::OrganizationDeleted => "organization.deleted",
            EventType::PortalLinkCreated => "portal.link_created",
            EventType::PortalLinkRedeemed => "portal.link_redeemed",
            EventType::DomainCreated => "domain.created",
            EventType::DomainVerified => "domain.verified",
            EventType::DomainVerificationFailed => "domain.verification_failed",
            EventType::DomainLapsed => "domain.lapsed",
            EventType::DomainDeleted => "domain.deleted",
            EventType::ConnectionCreated => "connection.created",
            EventType::ConnectionUpdated => "connection.updated",
            EventType::ConnectionActivated => "connection.activated",
            EventType::ConnectionDeactivated => "connection.deactivated",
            EventType::ConnectionTested => "connection.tested",
            EventType::ConnectionDeleted => "connection.deleted",
            EventType::ConnectionCertificateExpiring => "connection.certificate_expiring",
            EventType::RedirectUriAdded => "redirect_uri.added",
            EventType::RedirectUriRemoved => "redirect_uri.removed",
            EventType::AuthenticationSucceeded => "authentication.succeeded",
            EventType::AuthenticationFailed => "authentication.failed",
            EventType::SessionLogoutRequested => "session.logout_requested",
            EventType::MembershipCreated => "membership.created",
            EventType::MembershipUpdated => "membership.updated",
            EventType::MembershipRoleChanged => "membership.role_changed",
            EventType::MembershipSuspended => "membership.suspended",
            EventType::MembershipReactivated => "membership.reactivated",
            EventType::MembershipRemoved => "membership.removed",
            EventType::MembershipLastAdminDeprovisioned => "membership.last_admin_deprovisioned",
            EventType::MembershipRemovalSkipped => "membership.removal_skipped",
            EventType::DirectoryCreated => "directory.created",
            EventType::DirectoryUpdated => "directory.updated",
            EventType::DirectoryDeleted => "directory.deleted",
            EventType::DirectoryTokenRotated => "directory.token_rotated",
            EventType::DirectoryRoleMappingsUpdated => "directory.role_mappings_updated",
            EventType::DsyncUserCreated => "dsync.user.created",
            EventType::DsyncUserUpdated => "dsync.user.updated",
            EventType::DsyncUserDeactivated => "dsync.user.deactivated",
            EventType::DsyncUserReactivated => "dsync.user.reactivated",
            EventType::DsyncUserDeleted => "dsync.user.deleted",
            EventType::DsyncGroupCreated => "dsync.group.created",
            EventType::DsyncGroupUpdated => "dsync.group.updated",
            EventType::DsyncGroupDeleted => "dsync.group.deleted",
            EventType::DsyncGroupUserAdded => "dsync.group.user_added",
            EventType::DsyncGroupUserRemoved => "dsync.group.user_removed",
            EventType::InvitationCreated => "invitation.created",
            EventType::InvitationResent => "invitation.resent",
            EventType::InvitationRevoked => "invitation.revoked",
            EventType::InvitationAccepted => "invitation.accepted",
            EventType::InvitationExpired => "invitation.expired",
            EventType::LogStreamCreated => "log_stream.created",
            EventType::LogStreamDeleted => "log_stream.deleted",
            EventType::LogStreamTested => "log_stream.tested",
            EventType::WebhookEndpointCreated => "webhook_endpoint.created",
            EventType::WebhookEndpointUpdated => "webhook_endpoint.updated",
            EventType::WebhookEndpointDeleted => "webhook_endpoint.deleted",
            EventType::WebhookEndpointSecretRotated => "webhook_endpoint.secret_rotated",
            EventType::WebhookEndpointDisabled => "webhook_endpoint.disabled",
            EventType::WebhookEndpointRedeliveryRequested => {
                "webhook_endpoint.redelivery_requested"
            }
            EventType::ApiKeyCreated => "api_key.created",
            EventType::ApiKeyRevoked => "api_key.revoked",
            EventType::AuditPurged => "audit.purged",
            EventType::AuditExported => "audit.exported",
            EventType::RoleCreated => "role.created",
            EventType::RoleDeleted => "role.deleted",
            EventType::PolicyUpdated => "policy.updated",
            EventType::StaffCreated => "staff.created",
            EventType::StaffSetupCompleted => "staff.setup_completed",
            EventType::StaffSignedIn => "staff.signed_in",
            EventType::StaffSignInFailed => "staff.sign_in_failed",
            EventType::StaffSignInFailuresAlert => "staff.sign_in_failures_alert",
            EventType::StaffReset => "staff.reset",
            EventType::StaffDisabled => "staff.disabled",
            EventType::OauthClientCreated => "oauth_client.created",
            EventType::OauthClientUpdated => "oauth_client.updated",
            EventType::OauthClientDeleted => "oauth_client.deleted",
            EventType::OauthClientSecretRotated => "oauth_client.secret_rotated",
            EventType::SigningKeyRotated => "signing_key.rotated",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "organization.created" => EventType::OrganizationCreated,
            "organization.updated" => EventType::OrganizationUpdated,
            "organization.deleted" => EventType::OrganizationDeleted,
            "portal.link_created" => EventType::PortalLinkCreated,
            "portal.link_redeemed" => EventType::PortalLinkRedeemed,
            "domain.created" => EventType::DomainCreated,
            "domain.verified" => EventType::DomainVerified,
            "domain.verification_failed" => EventType::DomainVerificationFailed,
            "domain.lapsed" => EventType::DomainLapsed,
            "domain.deleted" => EventType::DomainDeleted,
            "connection.created" => EventType::ConnectionCreated,
            "connection.updated" => EventType::ConnectionUpdated,
            "connection.activated" => EventType::ConnectionActivated,
            "connection.deactivated" => EventType::ConnectionDeactivated,
            "connection.tested" => EventType::ConnectionTested,
            "connection.deleted" => EventType::ConnectionDeleted,
            "connection.certificate_expiring" => EventType::ConnectionCertificateExpiring,
            "redirect_uri.added" => EventType::RedirectUriAdded,
            "redirect_uri.removed" => EventType::RedirectUriRemoved,
            "authentication.succeeded" => EventType::AuthenticationSucceeded,
            "authentication.failed" => EventType::AuthenticationFailed,
            "session.logout_requested" => EventType::SessionLogoutRequested,
            "membership.created" => EventType::MembershipCreated,
            "membership.updated" => EventType::MembershipUpdated,
            "membership.role_changed" => EventType::MembershipRoleChanged,
            "membership.suspended" => EventType::MembershipSuspended,
            "membership.reactivated" => EventType::MembershipReactivated,
            "membership.removed" => EventType::MembershipRemoved,
            "membership.last_admin_deprovisioned" => EventType::MembershipLastAdminDeprovisioned,
            "membership.removal_skipped" => EventType::MembershipRemovalSkipped,
            "directory.created" => EventType::DirectoryCreated,
            "directory.updated" => EventType::DirectoryUpdated,
            "directory.deleted" => EventType::DirectoryDeleted,
            "directory.token_rotated" => EventType::DirectoryTokenRotated,
            "directory.role_mappings_updated" => EventType::DirectoryRoleMappingsUpdated,
            "dsync.user.created" => EventType::DsyncUserCreated,
            "dsync.user.updated" => EventType::DsyncUserUpdated,
            "dsync.user.deactivated" => EventType::DsyncUserDeactivated,
            "dsync.user.reactivated" => EventType::DsyncUserReactivated,
            "dsync.user.deleted" => EventType::DsyncUserDeleted,
            "dsync.group.created" => EventType::DsyncGroupCreated,
            "dsync.group.updated" => EventType::DsyncGroupUpdated,
            "dsync.group.deleted" => EventType::DsyncGroupDeleted,
            "dsync.group.user_added" => EventType::DsyncGroupUserAdded,
            "dsync.group.user_removed" => EventType::DsyncGroupUserRemoved,
            "invitation.created" => EventType::InvitationCreated,
            "invitation.resent" => EventType::InvitationResent,
            "invitation.revoked" => EventType::InvitationRevoked,
            "invitation.accepted" => EventType::InvitationAccepted,
            "invitation.expired" => EventType::InvitationExpired,
            "log_stream.created" => EventType::LogStreamCreated,
            "log_stream.deleted" => EventType::LogStreamDeleted,
            "log_stream.tested" => EventType::LogStreamTested,
            "webhook_endpoint.created" => EventType::WebhookEndpointCreated,
            "webhook_endpoint.updated" => EventType::WebhookEndpointUpdated,
            "webhook_endpoint.deleted" => EventType::WebhookEndpointDeleted,
            "webhook_endpoint.secret_rotated" => EventType::WebhookEndpointSecretRotated,
            "webhook_endpoint.disabled" => EventType::WebhookEndpointDisabled,
            "webhook_endpoint.redelivery_requested" => {
                EventType::WebhookEndpointRedeliveryRequested
            }
            "api_key.created" => EventType::ApiKeyCreated,
            "api_key.revoked" => EventType::ApiKeyRevoked,
            "audit.purged" => EventType::AuditPurged,
            "audit.exported" => EventType::AuditExported,
            "role.created" => EventType::RoleCreated,
            "role.deleted" => EventType::RoleDeleted,
            "policy.updated" => EventType::PolicyUpdated,
            "staff.created" => EventType::StaffCreated,
            "staff.setup_completed" => EventType::StaffSetupCompleted,
            "staff.signed_in" => EventType::StaffSignedIn,
            "staff.sign_in_failed" => EventType::StaffSignInFailed,
            "staff.sign_in_failures_alert" => EventType::StaffSignInFailuresAlert,
            "staff.reset" => EventType::StaffReset,
            "staff.disabled" => EventType::StaffDisabled,
            "oauth_client.created" => EventType::OauthClientCreated,
            "oauth_client.updated" => EventType::OauthClientUpdated,
            "oauth_client.deleted" => EventType::OauthClientDeleted,
            "oauth_client.secret_rotated" => EventType::OauthClientSecretRotated,
            "signing_key.rotated" => EventType::SigningKeyRotated,
            _ => return None,
        })
    }

    /// Plain words for the activity feeds.
    pub const fn describe(self) -> &'static str {
        match self {
            EventType::OrganizationCreated => "Organization created",
            EventType::OrganizationUpdated => "Organization details changed",
            EventType::OrganizationDeleted => "Organization deleted",
            EventType::PortalLinkCreated => "Setup link created",
            EventType::PortalLinkRedeemed => "Setup link opened",
            EventType::DomainCreated => "Domain added",
            EventType::DomainVerified => "Domain verified",
            EventType::DomainVerificationFailed => "Domain verification failed",
            EventType::DomainLapsed => "Domain lapsed (verification record missing)",
            EventType::DomainDeleted => "Domain removed",
            EventType::ConnectionCreated => "SSO connection added",
            EventType::ConnectionUpdated => "SSO connection changed",
            EventType::ConnectionActivated => "SSO connection activated",
            EventType::ConnectionDeactivated => "SSO connection deactivated",
            EventType::ConnectionTested => "Test sign-in succeeded",
            EventType::ConnectionDeleted => "SSO connection removed",
            EventType::ConnectionCertificateExpiring => "Connection certificate expiring",
            EventType::RedirectUriAdded => "Redirect uri added",
            EventType::RedirectUriRemoved => "Redirect uri removed",
            EventType::AuthenticationSucceeded => "Sign-in",
            EventType::AuthenticationFailed => "Sign-in refused",
            EventType::SessionLogoutRequested => "Session logout requested",
            EventType::MembershipCreated => "Member joined",
            EventType::MembershipUpdated => "Membership updated",
            EventType::MembershipRoleChanged => "Member's role changed",
            EventType::MembershipSuspended => "Member suspended",
            EventType::MembershipReactivated => "Member reactivated",
            EventType::MembershipRemoved => "Member removed",
            EventType::MembershipLastAdminDeprovisioned => "Directory deactivated the last admin",
            EventType::MembershipRemovalSkipped => "Scheduled removal skipped",
            EventType::DirectoryCreated => "Directory added",
            EventType::DirectoryUpdated => "Directory settings changed",
            EventType::DirectoryDeleted => "Directory removed",
            EventType::DirectoryTokenRotated => "Directory token replaced",
            EventType::DirectoryRoleMappingsUpdated => "Group-to-role mapping changed",
            EventType::DsyncUserCreated => "Directory added a person",
            EventType::DsyncUserUpdated => "Directory updated a person",
            EventType::DsyncUserDeactivated => "Directory deactivated a person",
            EventType::DsyncUserReactivated => "Directory reactivated a person",
            EventType::DsyncUserDeleted => "Directory removed a person",
            EventType::DsyncGroupCreated => "Directory added a group",
            EventType::DsyncGroupUpdated => "Directory renamed a group",
            EventType::DsyncGroupDeleted => "Directory removed a group",
            EventType::DsyncGroupUserAdded => "Directory added someone to a group",
            EventType::DsyncGroupUserRemoved => "Directory removed someone from a group",
            EventType::InvitationCreated => "Invitation sent",
            EventType::InvitationResent => "Invitation sent again",
            EventType::InvitationRevoked => "Invitation revoked",
            EventType::InvitationAccepted => "Invitation accepted",
            EventType::InvitationExpired => "Invitation expired",
            EventType::LogStreamCreated => "Log stream added",
            EventType::LogStreamDeleted => "Log stream removed",
            EventType::LogStreamTested => "Log stream tested",
            EventType::WebhookEndpointCreated => "Webhook endpoint created",
            EventType::WebhookEndpointUpdated => "Webhook endpoint updated",
            EventType::WebhookEndpointDeleted => "Webhook endpoint deleted",
            EventType::WebhookEndpointSecretRotated => "Webhook endpoint secret rotated",
            EventType::WebhookEndpointDisabled => "Webhook endpoint disabled",
            EventType::WebhookEndpointRedeliveryRequested => {
                "Webhook endpoint redelivery requested"
            }
            EventType::ApiKeyCreated => "Api key created",
            EventType::ApiKeyRevoked => "Api key revoked",
            EventType::AuditPurged => "Old activity purged (retention)",
            EventType::AuditExported => "Audit exported",
            EventType::RoleCreated => "Role defined",
            EventType::RoleDeleted => "Role deleted",
            EventType::PolicyUpdated => "Access policy changed",
            EventType::StaffCreated => "Staff account created",
            EventType::StaffSetupCompleted => "Staff setup completed",
            EventType::StaffSignedIn => "Staff signed in",
            EventType::StaffSignInFailed => "Staff sign-in refused",
            EventType::StaffSignInFailuresAlert => "Many failed staff sign-ins: owner warned",
            EventType::StaffReset => "Staff reset",
            EventType::StaffDisabled => "Staff disabled",
            EventType::OauthClientCreated => "OAuth client created",
            EventType::OauthClientUpdated => "OAuth client updated",
            EventType::OauthClientDeleted => "OAuth client deleted",
            EventType::OauthClientSecretRotated => "OAuth client secret rotated",
            EventType::SigningKeyRotated => "Signing key rotated",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for EventType {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        EventType::parse(s).ok_or_else(|| format!("unknown event type {s}"))
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventType::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type {s}")))
    }
}

/// Whether a stored action records a failure or a refusal (`authentication.failed`,
/// `domain.verification_failed`, …). Failure events are named so: their names end in `failed`,
/// which also marks ones written by other versions.
pub fn is_failure_action(action: &str) -> bool {
    action.ends_with("failed")
}

/// Prefix of the actions and actor types of audit events the vendor's product writes: no
/// Lanyard query by action or actor type ever matches one, whatever name the vendor chose.
pub const VENDOR_PREFIX: &str = "vendor:";

/// Plain words for a stored action. Rows written by other versions may hold any string: one this
/// version does not know is spelt out from its name (`a_b.c` → "A b c"). One the vendor's
/// product reported says so.
pub fn describe_action(action: &str) -> String {
    if let Some(theirs) = action.strip_prefix(VENDOR_PREFIX) {
        return format!("{} (reported by the product)", spelt_out(theirs));
    }
    match EventType::parse(action) {
        Some(e) => e.describe().to_owned(),
        None => spelt_out(action),
    }
}

fn spelt_out(action: &str) -> String {
    let mut s = action.replace(['.', '_'], " ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words the activity feeds showed before the enum (`app::describe_action`).
    const BEFORE: &[(&str, &str)] = &[
        ("organization.created", "Organization created"),
        ("organization.updated", "Organization details changed"),
        ("organization.deleted", "Organization deleted"),
        ("portal.link_created", "Setup link created"),
        ("portal.link_redeemed", "Setup link opened"),
        ("domain.created", "Domain added"),
        ("connection.created", "SSO connection added"),
        ("connection.updated", "SSO connection changed"),
        ("connection.activated", "SSO connection activated"),
        ("connection.deactivated", "SSO connection deactivated"),
        ("connection.tested", "Test sign-in succeeded"),
        ("connection.deleted", "SSO connection removed"),
        ("authentication.succeeded", "Sign-in"),
        ("authentication.failed", "Sign-in refused"),
        ("membership.created", "Member joined"),
        ("domain.verified", "Domain verified"),
        ("domain.verification_failed", "Domain verification failed"),
        (
            "domain.lapsed",
            "Domain lapsed (verification record missing)",
        ),
        ("domain.deleted", "Domain removed"),
        ("directory.created", "Directory added"),
        ("directory.updated", "Directory settings changed"),
        ("directory.deleted", "Directory removed"),
        ("directory.token_rotated", "Directory token replaced"),
        (
            "directory.role_mappings_updated",
            "Group-to-role mapping changed",
        ),
        ("dsync.user.created", "Directory added a person"),
        ("dsync.user.updated", "Directory updated a person"),
        ("dsync.user.deactivated", "Directory deactivated a person"),
        ("dsync.user.reactivated", "Directory reactivated a person"),
        ("dsync.user.deleted", "Directory removed a person"),
        ("dsync.group.created", "Directory added a group"),
        ("dsync.group.updated", "Directory renamed a group"),
        ("dsync.group.deleted", "Directory removed a group"),
        (
            "dsync.group.user_added",
            "Directory added someone to a group",
        ),
        (
            "dsync.group.user_removed",
            "Directory removed someone from a group",
        ),
        ("membership.role_changed", "Member's role changed"),
        ("membership.suspended", "Member suspended"),
        ("membership.reactivated", "Member reactivated"),
        ("membership.removed", "Member removed"),
        ("invitation.created", "Invitation sent"),
        ("invitation.resent", "Invitation sent again"),
        ("invitation.revoked", "Invitation revoked"),
        ("invitation.accepted", "Invitation accepted"),
        ("invitation.expired", "Invitation expired"),
        ("log_stream.created", "Log stream added"),
        ("log_stream.deleted", "Log stream removed"),
        ("log_stream.tested", "Log stream tested"),
        ("audit.purged", "Old activity purged (retention)"),
        ("role.created", "Role defined"),
        ("role.deleted", "Role deleted"),
        ("policy.updated", "Access policy changed"),
        (
            "membership.last_admin_deprovisioned",
            "Directory deactivated the last admin",
        ),
        ("membership.removal_skipped", "Scheduled removal skipped"),
        ("staff.created", "Staff account created"),
        ("staff.signed_in", "Staff signed in"),
        ("staff.sign_in_failed", "Staff sign-in refused"),
        (
            "staff.sign_in_failures_alert",
            "Many failed staff sign-ins: owner warned",
        ),
    ];

    #[test]
    fn failure_actions() {
        let failures: Vec<_> = EventType::ALL
            .iter()
            .filter(|e| is_failure_action(e.as_str()))
            .collect();
        assert_eq!(
            failures,
            [
                &EventType::DomainVerificationFailed,
                &EventType::AuthenticationFailed,
                &EventType::StaffSignInFailed
            ]
        );
    }

    #[test]
    fn wire_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(*e));
            assert_eq!(EventType::try_from(e.as_str()), Ok(*e));
            assert!(seen.insert(e.as_str()), "duplicate {e}");
            let json = serde_json::to_string(e).unwrap();
            assert_eq!(json, format!("\"{e}\""));
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), *e);
        }
        assert_eq!(EventType::ALL.len(), 78);
    }

    #[test]
    fn descriptions_are_the_words_shown_before() {
        for (action, words) in BEFORE {
            assert!(EventType::parse(action).is_some(), "{action}");
            assert_eq!(describe_action(action), *words, "{action}");
        }
        // Event types the old table did not list were spelt out from their names, except those
        // whose names hide an acronym.
        let acronyms = [
            (EventType::OauthClientCreated, "OAuth client created"),
            (EventType::OauthClientUpdated, "OAuth client updated"),
            (EventType::OauthClientDeleted, "OAuth client deleted"),
            (
                EventType::OauthClientSecretRotated,
                "OAuth client secret rotated",
            ),
        ];
        for (e, words) in acronyms {
            assert_eq!(e.describe(), words);
        }
        for e in EventType::ALL {
            if !BEFORE.iter().any(|(a, _)| *a == e.as_str())
                && !acronyms.iter().any(|(a, _)| a == e)
            {
                assert_eq!(e.describe(), spelt_out(e.as_str()), "{e}");
            }
        }
    }

    #[test]
    fn unknown_stored_actions_are_spelt_out() {
        assert_eq!(
            describe_action("widget.frobbed_twice"),
            "Widget frobbed twice"
        );
        assert_eq!(describe_action(""), "");
        assert_eq!(EventType::parse("organization.created "), None);
        assert_eq!(EventType::parse("Organization.created"), None);
        assert!(EventType::try_from("dsync.preview").is_err());
    }
}
