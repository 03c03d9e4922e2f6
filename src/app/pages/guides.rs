//! What the admin does in their identity provider, per IdP and protocol, split the way the guided
//! SSO setup is: step 1 creates the application there with Lanyard's values (which exist by
//! then), step 2 says where the IdP shows the values Lanyard needs back.

use crate::domain::connection::ConnectionKind;

/// The instructions of one IdP and protocol.
pub struct Guide {
    /// Step 1: create the application in the IdP and paste Lanyard's values.
    pub create: &'static [&'static str],
    /// Step 2: where to find what Lanyard asks for.
    pub details: &'static [&'static str],
}

/// The guide for `idp` (wire name) over `kind`.
pub fn guide(idp: &str, kind: ConnectionKind) -> Guide {
    match kind {
        ConnectionKind::Saml => saml(idp),
        ConnectionKind::Oidc => oidc(idp),
    }
}

fn saml(idp: &str) -> Guide {
    match idp {
        "okta" => Guide {
            create: &[
                "In the Okta Admin Console open Applications → Applications → Create App Integration and choose SAML 2.0.",
                "Paste the ACS URL into Single sign-on URL and the SP entity ID into Audience URI (SP Entity ID). Name ID format: EmailAddress; Application username: Email.",
                "Under Attribute Statements add email, firstName and lastName (user.email, user.firstName, user.lastName); add a Group Attribute Statement named groups.",
                "Finish, then assign the people or groups who may sign in (Assignments tab).",
            ],
            details: &[
                "Open the app's Sign On tab and copy the Metadata URL (or download the metadata XML from there).",
            ],
        },
        "entra" => Guide {
            create: &[
                "In the Microsoft Entra admin center open Enterprise applications → New application → Create your own application (non-gallery).",
                "Open Single sign-on → SAML. Under Basic SAML Configuration paste the SP entity ID into Identifier (Entity ID) and the ACS URL into Reply URL.",
                "Entra sends email, given name, surname and (when you add a group claim) groups as claim URIs; Lanyard reads them as they are.",
                "Under Users and groups, assign the people or groups who may sign in.",
            ],
            details: &[
                "Under SAML Certificates copy the App Federation Metadata Url (or download Federation Metadata XML).",
            ],
        },
        "google" => Guide {
            create: &[
                "In the Google Admin console open Apps → Web and mobile apps → Add app → Add custom SAML app, and give it a name.",
                "On Google Identity Provider details, click Download metadata and keep the file for the next step.",
                "On Service provider details paste the ACS URL into ACS URL and the SP entity ID into Entity ID; Name ID format EMAIL, Name ID: Basic Information > Primary email.",
                "Map attributes: Primary email → email, First name → firstName, Last name → lastName. Turn the app on for the right organizational units.",
            ],
            details: &[
                "Upload the metadata file you downloaded in step 1 (Google shows no metadata URL).",
            ],
        },
        "adfs" => Guide {
            create: &[
                "In AD FS Management add a Relying Party Trust (claims aware): import Lanyard's SP metadata (download it below) or enter the data manually.",
                "By hand: use the SP entity ID as Relying party trust identifier and the ACS URL as the SAML 2.0 WebSSO protocol URL.",
                "Add claim rules: E-Mail-Addresses → E-Mail Address, Given-Name → Given Name, Surname → Surname, Token-Groups → Group; and E-Mail Address → Name ID (Email).",
            ],
            details: &[
                "Give Lanyard https://<your ADFS host>/FederationMetadata/2007-06/FederationMetadata.xml as the metadata URL (it must be reachable from Lanyard), or upload that file.",
            ],
        },
        "onelogin" => Guide {
            create: &[
                "In OneLogin open Applications → Add App, search for SAML Custom Connector (Advanced) and save it with a name.",
                "On the Configuration tab paste the SP entity ID into Audience (EntityID) and the ACS URL into ACS (Consumer) URL and ACS (Consumer) URL Validator. SAML signature element: Both or Assertion.",
                "On the Parameters tab add email (Email), firstName (First Name), lastName (Last Name) and groups (User Roles, multi-value), each with Include in SAML assertion.",
                "Assign the app to people or roles under Users.",
            ],
            details: &[
                "On the SSO tab copy the Issuer URL: it is the metadata URL. Or use More Actions → SAML Metadata to download the file.",
            ],
        },
        "jumpcloud" => Guide {
            create: &[
                "In the JumpCloud Admin Portal open SSO Applications → Add New Application → Custom Application, and choose Manage Single Sign-On (SSO) with SAML 2.0.",
                "On the SSO tab paste the SP entity ID into SP Entity ID and the ACS URL into ACS URLs; SAMLSubject NameID: email; NameID format emailAddress; Sign Assertion.",
                "Add user attributes email, firstName and lastName, and turn on Include group attribute named groups.",
                "Bind the user groups who may sign in under User Groups.",
            ],
            details: &[
                "Use Export Metadata on the application's SSO tab and upload the file here.",
            ],
        },
        _ => Guide {
            create: &[
                "Create a SAML 2.0 application (service provider) in your identity provider.",
                "Set its ACS / Reply / Single sign-on URL to the ACS URL and its Audience / SP entity ID to the SP entity ID. Sign the assertion or the response with SHA-256.",
                "Send the email as NameID (emailAddress) or as an attribute named email; add firstName, lastName and groups if you can.",
            ],
            details: &[
                "Give Lanyard the IdP's metadata URL or file, or its entity ID (Issuer), single sign-on URL and signing certificate.",
            ],
        },
    }
}

fn oidc(idp: &str) -> Guide {
    match idp {
        "okta" => Guide {
            create: &[
                "In the Okta Admin Console open Applications → Applications → Create App Integration; choose OIDC - OpenID Connect and Web Application.",
                "Paste the redirect URI into Sign-in redirect URIs; grant type Authorization Code.",
                "Assign the people or groups who may sign in.",
            ],
            details: &[
                "Copy the Client ID and the Client secret from the app's General tab.",
                "The issuer is your Okta address, e.g. https://acme.okta.com.",
            ],
        },
        "entra" => Guide {
            create: &[
                "In the Microsoft Entra admin center open App registrations → New registration; supported account types: this organizational directory only.",
                "Under Redirect URI choose Web and paste the redirect URI.",
                "Under Certificates & secrets create a client secret and keep its Value for the next step.",
            ],
            details: &[
                "The client ID is the Application (client) ID on the app's Overview.",
                "The issuer is https://login.microsoftonline.com/<Directory (tenant) ID>/v2.0.",
            ],
        },
        "google" => Guide {
            create: &[
                "In Google Cloud Console open APIs & Services → Credentials → Create credentials → OAuth client ID.",
                "Choose Web application and add the redirect URI under Authorized redirect URIs.",
            ],
            details: &[
                "Copy the client ID and client secret Google shows after creating it.",
                "The issuer is https://accounts.google.com.",
            ],
        },
        "onelogin" => Guide {
            create: &[
                "In OneLogin open Applications → Add App and choose OpenId Connect (OIDC).",
                "On the Configuration tab paste the redirect URI into Redirect URIs. On the SSO tab set Token Endpoint authentication to POST or Basic.",
                "Assign the app to people or roles under Users.",
            ],
            details: &[
                "On the SSO tab copy the Client ID and Client Secret.",
                "The issuer is https://<your subdomain>.onelogin.com/oidc/2.",
            ],
        },
        "jumpcloud" => Guide {
            create: &[
                "In the JumpCloud Admin Portal open SSO Applications → Add New Application → Custom Application, and choose Manage Single Sign-On (SSO) with OIDC.",
                "Paste the redirect URI into Redirect URIs; Client Authentication Type: Client Secret Basic; scopes openid, email and profile.",
                "Bind the user groups who may sign in, then save: JumpCloud shows the client secret once.",
            ],
            details: &[
                "Copy the Client ID and Client Secret JumpCloud showed when you saved the app.",
                "The issuer is https://oauth.id.jumpcloud.com/.",
            ],
        },
        _ => Guide {
            create: &[
                "Create a confidential OpenID Connect client (authorization code flow) in your identity provider.",
                "Register the redirect URI and allow the openid, email and profile scopes.",
            ],
            details: &[
                "Copy the issuer URL (it serves /.well-known/openid-configuration), the client ID and the client secret.",
            ],
        },
    }
}

/// Where an IdP takes Lanyard's certificates and logout URL: (encrypted assertions, signed
/// requests, single logout). Each is a list of steps; empty when the IdP has no such setting.
pub struct FederationSteps {
    pub encryption: &'static [&'static str],
    pub signed_requests: &'static [&'static str],
    pub single_logout: &'static [&'static str],
}

/// The federation steps of a SAML IdP (wire name).
pub fn federation(idp: &str) -> FederationSteps {
    match idp {
        "okta" => FederationSteps {
            encryption: &[
                "In the app's General tab, SAML Settings → Edit → Show Advanced Settings.",
                "Assertion Encryption: Encrypted. Encryption Algorithm: AES256-GCM (or AES256-CBC). Key Transport Algorithm: RSA-OAEP (not RSA-15, which Lanyard refuses).",
                "Encryption Certificate: upload Lanyard's encryption certificate (the PEM below, saved as a .pem file).",
            ],
            signed_requests: &[
                "Same Advanced Settings: Signature Certificate: upload Lanyard's signing certificate; Signed Requests: Validate SAML requests with signature certificates.",
            ],
            single_logout: &[
                "Same Advanced Settings: Enable Single Logout; Single Logout URL: Lanyard's logout URL; SP Issuer: the SP entity ID; Signature Certificate: Lanyard's signing certificate.",
            ],
        },
        "entra" => FederationSteps {
            encryption: &[
                "In the Entra admin center open Enterprise applications → your app → Security → Token encryption.",
                "Import certificate: Lanyard's encryption certificate (save the PEM below as a .cer file), then right-click it → Activate token encryption certificate. Entra encrypts with RSA-OAEP and AES-256.",
            ],
            signed_requests: &[
                "Single sign-on → SAML → Verification certificates (optional) → Edit: Require verification certificates, and upload Lanyard's signing certificate.",
            ],
            single_logout: &[
                "Single sign-on → SAML → Basic SAML Configuration: Logout Url (Optional): Lanyard's logout URL.",
            ],
        },
        "adfs" => FederationSteps {
            encryption: &[
                "AD FS Management → Relying Party Trusts → your trust → Properties → Encryption tab → Browse: Lanyard's encryption certificate (a .cer file).",
                "AD FS encrypts with RSA-OAEP and AES-256-CBC by default; keep those.",
            ],
            signed_requests: &[
                "Same Properties → Signature tab → Add: Lanyard's signing certificate. AD FS then checks every AuthnRequest's signature.",
            ],
            single_logout: &[
                "Same Properties → Endpoints → Add SAML: SAML Logout, binding Redirect, Trusted URL: Lanyard's logout URL (importing Lanyard's SP metadata again adds it).",
            ],
        },
        "onelogin" => FederationSteps {
            encryption: &[
                "In the app's SSO tab: Encrypt assertion → on; in Configuration, paste Lanyard's encryption certificate into SAML Encryption (or the certificate field).",
            ],
            signed_requests: &[
                "Configuration tab: paste Lanyard's signing certificate where OneLogin asks for the SP certificate to validate requests.",
            ],
            single_logout: &[
                "Configuration tab: Single Logout URL: Lanyard's logout URL.",
            ],
        },
        "google" => FederationSteps {
            encryption: &[],
            signed_requests: &[],
            single_logout: &[],
        },
        _ => FederationSteps {
            encryption: &[
                "Give the IdP Lanyard's encryption certificate (below, or in the SP metadata as KeyDescriptor use=\"encryption\"); choose RSA-OAEP key transport and AES-GCM or AES-CBC.",
            ],
            signed_requests: &[
                "Give the IdP Lanyard's signing certificate (in the SP metadata as KeyDescriptor use=\"signing\") so it can check request signatures.",
            ],
            single_logout: &[
                "Set the SP's single logout URL (SingleLogoutService, HTTP-Redirect) to Lanyard's logout URL, or import the SP metadata again.",
            ],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::connection::IDPS;

    #[test]
    fn every_offered_idp_and_protocol_has_both_halves() {
        for (idp, _, saml, oidc) in IDPS {
            for (offered, kind) in [(saml, ConnectionKind::Saml), (oidc, ConnectionKind::Oidc)] {
                if offered {
                    let g = guide(idp, kind);
                    assert!(
                        !g.create.is_empty() && !g.details.is_empty(),
                        "{idp} {kind:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn step_one_never_asks_for_what_the_idp_gives_back() {
        // Step 1 is done before the admin has the IdP's values: it may only ask them to paste
        // Lanyard's, never to type in an issuer, a client secret or a metadata URL.
        for (idp, ..) in IDPS {
            for kind in [ConnectionKind::Saml, ConnectionKind::Oidc] {
                for line in guide(idp, kind).create {
                    let l = line.to_lowercase();
                    assert!(!l.contains("metadata url"), "{idp}: {line}");
                    assert!(!l.contains("issuer"), "{idp}: {line}");
                }
            }
        }
    }
}
