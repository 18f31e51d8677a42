//! Authorization with a record: a principal without the permission is refused, and the
//! refusal is an `access.refused` event naming who, what and on what.

use custos_core::{Permission, Principal};
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
    ledger
        .record_refusal(
            "access.refused",
            &json!({"by": who.name, "roles": who.roles, "via": who.via, "action": action, "subject": subject,
                "code": "forbidden"}),
        )
        .await?;
    Err(AccessError::Forbidden {
        who: who.name.clone(),
        roles,
        action,
    })
}
