//! `custos principals ...`, `custos tokens ...` and `custos whoami`.

use crate::auth;
use crate::cli::{EXIT_DENIED, EXIT_INVALID, EXIT_OK, EXIT_RUNTIME, Failure, Output, print_json};
use clap::Subcommand;
use custos_core::AuthMethod;
use custos_core::{Permission, Role};
use custos_engine::config::Config;
use custos_ledger::Ledger;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum PrincipalsCommand {
    /// Create the first policy admin (and, with `--member`, the rest of the first team)
    /// and print each one's token once. Works only while the ledger has no principal:
    /// whoever holds the ledger file is trusted this once, so these roles need no
    /// confirmation. Later reviewers and policy admins need a second principal's.
    Bootstrap {
        #[arg(long)]
        name: String,
        /// Another first member, `name=role[,role]` (repeat for several).
        #[arg(long = "member", value_name = "NAME=ROLES")]
        members: Vec<String>,
    },
    /// Changes to who can approve (reviewer or policy admin roles, enrollments) waiting
    /// for a second principal.
    Pending,
    /// Confirm a pending change (a confirmed reviewer or policy admin other than its
    /// proposer, its subject and the enrollment token's issuer).
    Confirm { change: String },
    /// Add a principal with roles (policy admin).
    Add {
        name: String,
        /// operator, reviewer, policy_admin, auditor (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Replace a principal's roles (policy admin).
    Roles {
        name: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Disable a principal and revoke its tokens (policy admin).
    Disable { name: String },
    /// Every principal and its roles.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue an API token, printed once (policy admin; anyone for themselves).
    Create {
        /// Whose token (default: yourself).
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        label: Option<String>,
        /// Days until it expires (default `[identity] token_ttl_days`).
        #[arg(long)]
        days: Option<i64>,
    },
    /// Revoke a token by id (policy admin, or the token's owner).
    Revoke { id: String },
    /// Tokens (ids, owners, expiry; never the secrets).
    List,
}

fn roles(list: &[String]) -> Result<BTreeSet<Role>, Failure> {
    list.iter()
        .map(|r| {
            Role::parse(r)
                .filter(|r| *r != Role::Service)
                .ok_or_else(|| {
                    Failure::msg(
                        EXIT_INVALID,
                        format!("unknown role `{r}`: operator, reviewer, policy_admin, auditor"),
                    )
                })
        })
        .collect()
}

fn name_ok(name: &str) -> Result<&str, Failure> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.len() <= 128
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-+".contains(c))
        && n != custos_core::SERVICE_PRINCIPAL;
    if ok {
        Ok(n)
    } else {
        Err(Failure::msg(
            EXIT_INVALID,
            format!(
                "principal name `{name}` must be 1-128 letters, digits or `._@-+`, and not `custos`"
            ),
        ))
    }
}

fn token_ttl(config: &Config, days: Option<i64>) -> Result<chrono::Duration, Failure> {
    match days {
        None => Ok(config.identity.token_ttl),
        Some(d) if (1..=366).contains(&d) => Ok(chrono::Duration::days(d)),
        Some(d) => Err(Failure::msg(
            EXIT_INVALID,
            format!("`--days` must be 1 to 366, got `{d}`"),
        )),
    }
}

fn print_token(name: &str, text: &str, row: &custos_ledger::TokenRow) {
    say!(
        "token for `{name}` (id {}, expires {}); it is shown once, keep it secret:\n{text}",
        row.id,
        row.expires_at.format("%Y-%m-%d %H:%M UTC")
    );
}

pub async fn principals(
    config: &Config,
    ledger: Arc<Ledger>,
    cred: Option<&str>,
    out: Output,
    command: PrincipalsCommand,
) -> Result<u8, Failure> {
    match command {
        PrincipalsCommand::Bootstrap { name, members } => {
            let mut team = vec![(
                name_ok(&name)?.to_string(),
                BTreeSet::from([Role::PolicyAdmin]),
            )];
            for m in &members {
                let Some((who, list)) = m.split_once('=') else {
                    return Err(Failure::msg(
                        EXIT_INVALID,
                        format!("`--member {m}` must be `name=role[,role]`"),
                    ));
                };
                let list: Vec<String> = list.split(',').map(str::to_string).collect();
                let who = name_ok(who)?.to_string();
                if team.iter().any(|(n, _)| *n == who) {
                    return Err(Failure::msg(
                        EXIT_INVALID,
                        format!("`{who}` is named twice"),
                    ));
                }
                team.push((who, roles(&list)?));
            }
            let mut rows = vec![];
            let mut texts = vec![];
            for (member, set) in team {
                let (text, row) = custos_identity::new_token(
                    &member,
                    &member,
                    Some("bootstrap".into()),
                    ledger.now(),
                    config.identity.token_ttl,
                )
                .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
                texts.push(text);
                rows.push((member, set, row));
            }
            if !ledger.bootstrap_team(&rows).await? {
                return Err(Failure::msg(
                    EXIT_DENIED,
                    "the ledger has principals already; ask a policy admin (`custos principals add`)".into(),
                ));
            }
            let confirmers = rows
                .iter()
                .filter(|(_, r, _)| r.contains(&Role::Reviewer) || r.contains(&Role::PolicyAdmin))
                .count();
            if confirmers < 2 {
                eprintln!(
                    "warning: only one principal can confirm changes to who can approve; reviewers and admins added later wait for a second one (`--member name=reviewer`)"
                );
            }
            // The first admin's token last: scripts read the last line.
            for ((member, _, row), text) in rows.iter().zip(&texts).rev() {
                print_token(member, text, row);
            }
            Ok(EXIT_OK)
        }
        PrincipalsCommand::Pending => {
            auth::principal(config, ledger.clone(), cred, Permission::Read).await?;
            let list = ledger.pending_changes().await?;
            match out {
                Output::Json => print_json(&list)?,
                Output::Table => {
                    if list.is_empty() {
                        say!("no change waits for confirmation");
                    }
                    for c in &list {
                        let what = match &c.change {
                            custos_ledger::told::Change::Grant { principal, roles } => format!(
                                "grant `{principal}` {}",
                                roles
                                    .iter()
                                    .map(|r| r.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            custos_ledger::told::Change::Enrollment {
                                principal,
                                token_id,
                                issuer,
                            } => format!(
                                "`{principal}` enrolled token `{token_id}` with an enrollment token from `{issuer}`"
                            ),
                        };
                        say!(
                            "{}\t{what}\tproposed by `{}` at {}",
                            c.id,
                            c.proposed_by,
                            c.at
                        );
                    }
                }
            }
            Ok(EXIT_OK)
        }
        PrincipalsCommand::Confirm { change } => {
            let who = auth::authenticated(config, ledger.clone(), cred).await?;
            // Only a custos principal's own token: the proposer and the subject are
            // custos principals, named as the ledger names them.
            if !matches!(who.via, AuthMethod::Token { .. }) {
                return Err(Failure::msg(
                    EXIT_DENIED,
                    format!(
                        "`{}` must confirm with their own custos API token",
                        who.name
                    ),
                ));
            }
            let done = ledger
                .confirm_change(&change, &who.name, &who.roles)
                .await
                .map_err(|e| match e {
                    custos_ledger::LedgerError::NotAllowed(why) => Failure::msg(EXIT_DENIED, why),
                    other => other.into(),
                })?;
            say!(
                "confirmed change `{}` about `{}`",
                done.id,
                done.change.principal()
            );
            Ok(EXIT_OK)
        }
        PrincipalsCommand::List => {
            auth::principal(config, ledger.clone(), cred, Permission::Read).await?;
            let list = ledger.principals().await?;
            match out {
                Output::Json => print_json(&list)?,
                Output::Table => {
                    for p in &list {
                        say!(
                            "{}\t{}\t{}",
                            p.name,
                            p.roles
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                            if p.disabled_at.is_some() {
                                "disabled"
                            } else {
                                "active"
                            }
                        );
                    }
                }
            }
            Ok(EXIT_OK)
        }
        PrincipalsCommand::Add { name, roles: r } => {
            let admin =
                auth::principal(config, ledger.clone(), cred, Permission::ManagePrincipals).await?;
            let name = name_ok(&name)?;
            let set = roles(&r)?;
            ledger.create_principal(name, &set, &admin.name).await?;
            say!("added `{name}` ({})", r.join(", "));
            Ok(EXIT_OK)
        }
        PrincipalsCommand::Roles { name, roles: r } => {
            let admin =
                auth::principal(config, ledger.clone(), cred, Permission::ManagePrincipals).await?;
            ledger.set_roles(&name, &roles(&r)?, &admin.name).await?;
            say!("`{name}` now has roles {}", r.join(", "));
            Ok(EXIT_OK)
        }
        PrincipalsCommand::Disable { name } => {
            let admin =
                auth::principal(config, ledger.clone(), cred, Permission::ManagePrincipals).await?;
            ledger.disable_principal(&name, &admin.name).await?;
            say!("disabled `{name}` and revoked its tokens");
            Ok(EXIT_OK)
        }
    }
}

pub async fn tokens(
    config: &Config,
    ledger: Arc<Ledger>,
    cred: Option<&str>,
    out: Output,
    command: TokensCommand,
) -> Result<u8, Failure> {
    let who = auth::authenticated(config, ledger.clone(), cred).await?;
    let admin = who.may(Permission::ManagePrincipals);
    let refuse = |what: String| Failure::msg(EXIT_DENIED, format!("`{}` may not {what}", who.name));
    match command {
        TokensCommand::Create {
            principal,
            label,
            days,
        } => {
            let owner = principal.unwrap_or_else(|| who.name.clone());
            if owner != who.name && !admin {
                return Err(refuse(format!("issue tokens for `{owner}`")));
            }
            if ledger.principal(&owner).await?.is_none() {
                return Err(Failure::msg(
                    EXIT_INVALID,
                    format!("no principal `{owner}`"),
                ));
            }
            let (text, row) = custos_identity::new_token(
                &owner,
                &who.name,
                label,
                ledger.now(),
                token_ttl(config, days)?,
            )
            .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
            match &who.via {
                // The holder of an enrollment token makes their own; the given one is
                // spent (a second use means someone else used it first).
                AuthMethod::Enrollment { token_id, .. } => {
                    ledger.enroll(token_id, &row).await.map_err(|e| match e {
                        custos_ledger::LedgerError::Conflict { .. } => Failure::msg(
                            EXIT_DENIED,
                            format!(
                                "enrollment token `{token_id}` was used already; ask for a new one"
                            ),
                        ),
                        other => other.into(),
                    })?;
                }
                AuthMethod::Token { token_id } if owner == who.name => {
                    ledger.issue_token(&row, &who.name, Some(token_id)).await?
                }
                _ => ledger.issue_token(&row, &who.name, None).await?,
            }
            print_token(&owner, &text, &row);
            if row.is_enrollment() {
                eprintln!(
                    "this is an enrollment token: `{owner}` can only exchange it (`custos tokens create` with it) for a token of their own, once"
                );
            }
            Ok(EXIT_OK)
        }
        TokensCommand::Revoke { id } => {
            let Some(t) = ledger.token(&id).await? else {
                return Err(Failure::msg(EXIT_INVALID, format!("no token `{id}`")));
            };
            if t.principal != who.name && !admin {
                return Err(refuse(format!("revoke token `{id}`")));
            }
            ledger.revoke_token(&id, &who.name).await?;
            say!("revoked token `{id}` of `{}`", t.principal);
            Ok(EXIT_OK)
        }
        TokensCommand::List => {
            let list = ledger
                .tokens(if admin { None } else { Some(&who.name) })
                .await?;
            match out {
                Output::Json => print_json(&list)?,
                Output::Table => {
                    for t in &list {
                        say!(
                            "{}\t{}\t{}\texpires {}{}",
                            t.id,
                            t.principal,
                            t.label.as_deref().unwrap_or("-"),
                            t.expires_at.format("%Y-%m-%d"),
                            if t.revoked_at.is_some() {
                                "\trevoked"
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
            Ok(EXIT_OK)
        }
    }
}
