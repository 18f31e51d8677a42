//! Authorization with a record: a principal without the permission is refused, and the
//! refusal is an `access.refused` event naming who, what and on what.

use custos_core::{AuthMethod, Permission, Principal};
use custos_ledger::{Ledger, LedgerError};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("`{who}` (roles: {roles}) may not {action}")]
    Forbidden {
        who: String,
        roles: String,
        action: Permission,
    },
    #[error(
        "`{who}` signed in with enrollment token `{token_id}` issued by `{issued_by}`: it may only read, and be exchanged once for `{who}`'s own token (`custos tokens create`), not {action}"
    )]
    Enrollment {
        who: String,
        token_id: String,
        issued_by: String,
        action: Permission,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Allow `who` to do `action` on `subject`, or record the refusal and refuse.
pub async fn require(
    ledger: &Ledger,
    who: &Principal,
    action: Permission,
    subject: Value,
) -> Result<(), AccessError> {
    if who.may(action) {
        return Ok(());
    }
    let roles = if who.roles.is_empty() {
        "none".to_string()
    } else {
        who.roles_text()
    };
    let enrollment = match &who.via {
        AuthMethod::Enrollment {
            token_id,
            issued_by,
        } => Some((token_id.clone(), issued_by.clone())),
        _ => None,
    };
    ledger
        .record_refusal(
            "access.refused",
            &format!("principal:{}", who.name),
            &json!({"by": who.name, "roles": who.roles, "via": who.via, "action": action, "subject": subject,
                "code": if enrollment.is_some() { "enrollment_only" } else { "forbidden" }}),
        )
        .await?;
    if let Some((token_id, issued_by)) = enrollment {
        return Err(AccessError::Enrollment {
            who: who.name.clone(),
            token_id,
            issued_by,
            action,
        });
    }
    Err(AccessError::Forbidden {
        who: who.name.clone(),
        roles,
        action,
    })
}
