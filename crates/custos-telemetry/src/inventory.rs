//! Every scanner for every configured account and region, as one source and one reader.

use crate::aws::{AwsPool, Target};
use crate::ec2::{ACCOUNT, Ec2Scanner, INSTANCE, SECURITY_GROUP};
use crate::services::{Kind, Services};
use crate::{Batch, Rejected, ResourceReader, S3Scanner, Source, TelemetryError};
use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug)]
pub struct Inventory {
    s3: BTreeMap<String, Arc<S3Scanner>>,
    ec2: BTreeMap<(String, String), Arc<Ec2Scanner>>,
    services: BTreeMap<(String, String), Arc<Services>>,
    types: Types,
}

/// Which resource types a scan lists. A type not wanted is never requested, so the
/// permissions it would need (`custos iam-policy`) need not be granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Types {
    All,
    /// Only these (the resource types the policy bundle's controls evaluate).
    Only(BTreeSet<String>),
}

impl Types {
    pub fn wants(&self, resource_type: &str) -> bool {
        match self {
            Types::All => true,
            Types::Only(set) => set.contains(resource_type),
        }
    }
}

/// Every resource type the scanners read.
pub fn resource_types() -> Vec<&'static str> {
    let mut v = vec![crate::s3::BUCKET, SECURITY_GROUP, INSTANCE, ACCOUNT];
    v.extend(Kind::ALL.map(Kind::resource_type));
    v
}

/// The IAM actions reading `resource_type` needs (listing it in a scan, reading one).
pub fn reads(resource_type: &str) -> &'static [&'static str] {
    match resource_type {
        crate::s3::BUCKET => crate::s3::READS,
        SECURITY_GROUP => crate::ec2::SECURITY_GROUP_READS,
        INSTANCE => crate::ec2::INSTANCE_READS,
        ACCOUNT => crate::ec2::ACCOUNT_READS,
        other => Kind::of(other).map_or(&[], Kind::reads),
    }
}

/// Every (account, region) `targets` name; with no targets, the default account in the
/// default region.
pub fn regions(pool: &AwsPool, targets: &[Target]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if targets.is_empty() {
        out.push((pool.default_account().to_string(), pool.default_region()));
    }
    for t in targets {
        let account = t
            .account
            .clone()
            .unwrap_or_else(|| pool.default_account().to_string());
        if t.regions.is_empty() {
            out.push((account, pool.default_region()));
        } else {
            out.extend(t.regions.iter().map(|r| (account.clone(), r.clone())));
        }
    }
    out.sort();
    out.dedup();
    out
}

impl Inventory {
    /// Scanners for `targets`; with no targets, the default account in the default region.
    pub fn new(pool: Arc<AwsPool>, targets: &[Target], concurrency: usize) -> Self {
        let default = [Target {
            account: None,
            role_arn: None,
            external_id: None,
            regions: vec![],
        }];
        let targets = if targets.is_empty() {
            &default[..]
        } else {
            targets
        };
        let mut s3 = BTreeMap::new();
        let mut ec2 = BTreeMap::new();
        let mut services = BTreeMap::new();
        for t in targets {
            let account = t
                .account
                .clone()
                .unwrap_or_else(|| pool.default_account().to_string());
            let regions = if t.regions.is_empty() {
                vec![pool.default_region()]
            } else {
                t.regions.clone()
            };
            services
                .entry((account.clone(), crate::services::iam::GLOBAL.to_string()))
                .or_insert_with(|| {
                    Arc::new(Services::new(
                        pool.clone(),
                        account.clone(),
                        crate::services::iam::GLOBAL.to_string(),
                    ))
                });
            s3.entry(account.clone()).or_insert_with(|| {
                Arc::new(S3Scanner::in_pool(
                    pool.clone(),
                    account.clone(),
                    concurrency,
                ))
            });
            for region in regions {
                services
                    .entry((account.clone(), region.clone()))
                    .or_insert_with(|| {
                        Arc::new(Services::new(pool.clone(), account.clone(), region.clone()))
                    });
                ec2.entry((account.clone(), region.clone()))
                    .or_insert_with(|| {
                        Arc::new(Ec2Scanner::new(pool.clone(), account.clone(), region))
                    });
            }
        }
        Inventory {
            s3,
            ec2,
            services,
            types: Types::All,
        }
    }

    /// Scans list only `types` (reads of one resource, by the guard, are not limited).
    pub fn only(mut self, types: Types) -> Self {
        self.types = types;
        self
    }
}

#[async_trait]
impl Source for Inventory {
    fn fresh(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        let accounts: Vec<&str> = self.s3.keys().map(String::as_str).collect();
        format!("scan:{}", accounts.join(","))
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let mut out = Batch::default();
        let types = &self.types;
        let s3 = self.s3.values().filter(|_| types.wants(crate::s3::BUCKET));
        let mut scans: Vec<(String, futures::future::BoxFuture<'_, _>)> = Vec::new();
        for s in s3 {
            scans.push((s.name(), Box::pin(s.collect())));
        }
        for s in self.ec2.values() {
            scans.push((s.name(), Box::pin(s.collect_only(types))));
        }
        for s in self.services.values() {
            scans.push((s.name(), Box::pin(s.collect_only(types))));
        }
        for (name, scan) in scans {
            // One unreachable account or region must not hide the others.
            match scan.await {
                Ok(b) => {
                    out.items.extend(b.items);
                    out.rejected.extend(b.rejected);
                    out.oversized.extend(b.oversized);
                }
                Err(e) => out.rejected.push(Rejected {
                    location: name,
                    field: None,
                    error: e.to_string(),
                    raw: String::new(),
                }),
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ResourceReader for Inventory {
    fn covers(&self, r: &ResourceRef) -> bool {
        match r.resource_type.as_str() {
            crate::s3::BUCKET => self.s3.contains_key(&r.account),
            SECURITY_GROUP | INSTANCE | ACCOUNT => self
                .ec2
                .contains_key(&(r.account.clone(), r.region.clone())),
            other if Kind::of(other).is_some() => self
                .services
                .contains_key(&(r.account.clone(), r.region.clone())),
            _ => false,
        }
    }

    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        let missing = || {
            TelemetryError::Unsupported(format!(
                "{} in {}/{} (account or region not configured)",
                r.resource_type, r.account, r.region
            ))
        };
        match r.resource_type.as_str() {
            crate::s3::BUCKET => self.s3.get(&r.account).ok_or_else(missing)?.read(r).await,
            SECURITY_GROUP | INSTANCE | ACCOUNT => {
                self.ec2
                    .get(&(r.account.clone(), r.region.clone()))
                    .ok_or_else(missing)?
                    .read(r)
                    .await
            }
            other if Kind::of(other).is_some() => {
                self.services
                    .get(&(r.account.clone(), r.region.clone()))
                    .ok_or_else(missing)?
                    .read(r)
                    .await
            }
            other => Err(TelemetryError::Unsupported(other.to_string())),
        }
    }
}
