use async_trait::async_trait;
use custos_core::{ExecutionRecord, RemediationPlan};
use custos_executor::{Intent, Journal};
use custos_ledger::Ledger;

/// The ledger as the executor's journal: intents and outcomes are durable before the
/// executor moves on.
pub(crate) struct LedgerJournal<'a> {
    pub ledger: &'a Ledger,
    pub run_id: Option<&'a str>,
    pub approval_id: Option<&'a str>,
    pub plan: &'a RemediationPlan,
}

#[async_trait]
impl Journal for LedgerJournal<'_> {
    async fn intent(&self, intent: &Intent) -> Result<(), String> {
        let payload = serde_json::to_value(intent).map_err(|e| e.to_string())?;
        self.ledger
            .action_intent(
                &intent.action_id,
                self.run_id,
                self.approval_id,
                self.plan,
                &payload,
            )
            .await
            .map_err(|e| e.to_string())
    }

    async fn outcome(&self, record: &ExecutionRecord) -> Result<(), String> {
        self.ledger
            .action_outcome(self.run_id, self.approval_id, self.plan, record)
            .await
            .map_err(|e| e.to_string())
    }
}
