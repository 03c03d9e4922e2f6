//! Directory kinds and the role rule for directory groups. Pure; used by the portal too.

/// The IdPs a directory can be set up for; each has its own setup steps in the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKind {
    Okta,
    Entra,
    OneLogin,
    JumpCloud,
    GenericScim,
}

impl DirectoryKind {
    /// Every kind, in the order the portal offers them.
    pub const ALL: [DirectoryKind; 5] = [
        DirectoryKind::Okta,
        DirectoryKind::Entra,
        DirectoryKind::OneLogin,
        DirectoryKind::JumpCloud,
        DirectoryKind::GenericScim,
    ];

    /// The API spelling (`okta`, `entra`, `onelogin`, `jumpcloud`, `generic_scim`).
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryKind::Okta => "okta",
            DirectoryKind::Entra => "entra",
            DirectoryKind::OneLogin => "onelogin",
            DirectoryKind::JumpCloud => "jumpcloud",
            DirectoryKind::GenericScim => "generic_scim",
        }
    }

    /// The product name shown to admins.
    pub fn label(self) -> &'static str {
        match self {
            DirectoryKind::Okta => "Okta",
            DirectoryKind::Entra => "Microsoft Entra ID",
            DirectoryKind::OneLogin => "OneLogin",
            DirectoryKind::JumpCloud => "JumpCloud",
            DirectoryKind::GenericScim => "Other SCIM 2.0 directory",
        }
    }

    /// Parses the API spelling.
    pub fn parse(raw: &str) -> Option<DirectoryKind> {
        DirectoryKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Roles a directory group can grant until custom roles exist.
pub const ROLES: [&str; 2] = ["admin", "member"];

/// Highest priority wins; on equal priority the group that sorts first by id wins, so the
/// outcome never depends on the order rows come back in.
pub fn winning_group<'a>(
    mapped: impl IntoIterator<Item = (&'a str, &'a str, i64)>,
) -> Option<(&'a str, &'a str)> {
    mapped
        .into_iter()
        .max_by(|a, b| a.2.cmp(&b.2).then_with(|| b.0.cmp(a.0)))
        .map(|(g, r, _)| (g, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in DirectoryKind::ALL {
            assert_eq!(DirectoryKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(DirectoryKind::parse("Okta"), None);
    }

    #[test]
    fn highest_priority_wins_and_ties_break_by_group_id() {
        let m = [
            ("g2", "member", 10),
            ("g1", "admin", 5),
            ("g3", "admin", 10),
        ];
        assert_eq!(winning_group(m), Some(("g2", "member")));
        assert_eq!(winning_group([("g9", "member", 1)]), Some(("g9", "member")));
        assert_eq!(winning_group([]), None);
    }
}
