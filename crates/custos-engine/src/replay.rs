//! `custos replay`: a recorded decision re-evaluated from its recorded inputs (the plan,
//! the findings and the gate input, kept in the `decision` event) with the policy bundle
//! it was made under (kept in the ledger by snapshot id), and with today's bundle.
//!
//! The gate is evaluated again; the other stages (reasoning, autonomy, switches) are
//! inputs to it here and are taken as recorded. The final verdict is recomposed the same
//! way the decision made it ([`crate::decide::verdict_of`]).

use crate::{Engine, EngineError};
use custos_core::{Decision, Finding, Reason, RemediationPlan, Stage, Verdict, digest_json};
use custos_ledger::Event;
use custos_policy::{GateInput, PolicyBundle, PolicySnapshot};
use serde::Serialize;
use serde_json::json;

/// One decision, replayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    pub decision_id: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub resource: Option<String>,
    pub control: Option<String>,
    pub recorded: Verdict,
    /// The decision was recorded with its inputs (decisions from before 0008 were not).
    pub replayable: bool,
    /// With the recorded bundle; `None` when the decision cannot be replayed.
    pub replayed: Option<Verdict>,
    /// With today's bundle.
    pub today: Option<Verdict>,
    /// The recorded bundle gives the recorded gate outcome, final verdict and input
    /// digest.
    pub reproduced: bool,
    /// Today's bundle decides the same.
    pub same_today: bool,
    /// What differs, or why it could not be replayed.
    pub notes: Vec<String>,
}

fn gate_rules(reasons: &[Reason]) -> Vec<(String, Verdict)> {
    let mut v: Vec<(String, Verdict)> = reasons
        .iter()
        .filter(|r| r.stage == Stage::Gate)
        .map(|r| (r.rule.clone(), r.verdict))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The final verdict with `gate` in place of the recorded gate stage.
fn recompose(decision: &Decision, gate: &[Reason]) -> Verdict {
    let reasons: Vec<Reason> = gate
        .iter()
        .cloned()
        .chain(
            decision
                .reasons
                .iter()
                .filter(|r| r.stage != Stage::Gate)
                .cloned(),
        )
        .collect();
    crate::decide::verdict_of(&reasons)
}

impl Engine {
    /// Replay one `decision` event (its id, or a unique prefix of at least 4 characters).
    pub async fn replay(&self, id: &str) -> Result<Replay, EngineError> {
        let event = self.ledger.event_by_id(id).await?;
        if event.kind != "decision" {
            return Err(EngineError::Refused(format!(
                "event `{}` is a `{}` event, not a decision",
                event.id, event.kind
            )));
        }
        Ok(self.replay_event(&event).await)
    }

    /// Replay every decision (recorded since `since`), oldest first.
    pub async fn replay_since(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<Replay>, EngineError> {
        let mut out = vec![];
        for e in self.ledger.decisions_since(since.as_ref()).await? {
            out.push(self.replay_event(&e).await);
        }
        Ok(out)
    }

    async fn replay_event(&self, e: &Event) -> Replay {
        let p = &e.payload;
        let decision: Option<Decision> = serde_json::from_value(p["decision"].clone()).ok();
        let mut r = Replay {
            decision_id: e.id.clone(),
            at: e.at,
            resource: e.resource.clone(),
            control: p["control"].as_str().map(str::to_string),
            recorded: decision.as_ref().map_or(Verdict::Deny, |d| d.verdict),
            replayable: false,
            replayed: None,
            today: None,
            reproduced: false,
            same_today: false,
            notes: vec![],
        };
        // The event must still be what was recorded (`audit verify` checks the rest of
        // the log).
        let at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let body = e.body(&at);
        if body.hash(custos_ledger::chain::SCHEME).ok().as_deref() != Some(e.hash.as_str()) {
            r.replayable = true;
            r.notes
                .push("the decision event does not give its recorded hash: it was edited".into());
            return r;
        }
        let Some(decision) = decision else {
            r.replayable = true;
            r.notes.push("the recorded decision cannot be read".into());
            return r;
        };
        let plan: Option<RemediationPlan> = serde_json::from_value(p["plan"].clone()).ok();
        let input: Option<GateInput> = serde_json::from_value(p["input"].clone()).ok();
        let findings: Option<Vec<Finding>> = serde_json::from_value(p["findings"].clone()).ok();
        let (Some(plan), Some(input), Some(findings)) = (plan, input, findings) else {
            r.notes.push(
                "recorded without its inputs (before custos kept them): not replayable".into(),
            );
            return r;
        };
        r.replayable = true;
        // Today's bundle.
        let today = self.gate_now(&plan, &input);
        r.today = Some(recompose(&decision, &today.reasons));
        r.same_today = r.today == Some(decision.verdict)
            && gate_rules(&today.reasons) == gate_rules(&decision.reasons);
        if !r.same_today {
            r.notes.push(format!(
                "today's policy ({}) decides `{}` (gate: {:?})",
                self.bundle.digest().short(),
                r.today.map_or("-".into(), |v| v.as_str().to_string()),
                gate_rules(&today.reasons)
            ));
        }
        // The recorded bundle.
        let Some(snapshot_id) = p["policy_snapshot"].as_str() else {
            r.notes
                .push("no policy snapshot recorded with the decision".into());
            return r;
        };
        let snapshot: Option<PolicySnapshot> = match self.ledger.policy_snapshot(snapshot_id).await
        {
            Ok(v) => v.and_then(|v| serde_json::from_value(v).ok()),
            Err(err) => {
                r.notes
                    .push(format!("the policy snapshot cannot be read: {err}"));
                return r;
            }
        };
        let Some(snapshot) = snapshot else {
            r.notes.push(format!(
                "policy snapshot `{snapshot_id}` is not in the ledger"
            ));
            return r;
        };
        if snapshot.id().as_str() != snapshot_id || snapshot.digest != decision.policy_digest {
            r.notes.push(
                "the stored policy snapshot is not the one the decision names: it was edited"
                    .into(),
            );
            return r;
        }
        let bundle = match PolicyBundle::from_snapshot(&snapshot, self.config.eval_timeout) {
            Ok(b) => b,
            Err(err) => {
                r.notes
                    .push(format!("the recorded bundle does not load: {err}"));
                return r;
            }
        };
        let same_bundle = bundle.digest() == &snapshot.digest;
        if !same_bundle {
            r.notes.push(
                "the snapshot's files do not give its digest (edited, or this binary's compiled floor differs): not the recorded policy".into(),
            );
        }
        let gate = bundle.evaluator().gate(&plan, &input);
        let replayed = recompose(&decision, &gate.reasons);
        r.replayed = Some(replayed);
        let digest = digest_json(
            &json!({"plan": plan, "findings": findings, "input": input, "gate": gate.reasons}),
        );
        let mut ok = same_bundle;
        if gate.verdict != decision.gate_verdict
            || gate_rules(&gate.reasons) != gate_rules(&decision.reasons)
        {
            ok = false;
            r.notes.push(format!(
                "the recorded bundle's gate gives `{}` {:?}, recorded `{}` {:?}",
                gate.verdict.as_str(),
                gate_rules(&gate.reasons),
                decision.gate_verdict.as_str(),
                gate_rules(&decision.reasons)
            ));
        }
        let mut evaluator = bundle.evaluator();
        let choice =
            crate::learning::candidates::replay_choice(p, &plan.playbook, &mut |pl, inp| {
                evaluator.gate(pl, inp)
            });
        if !choice.is_empty() {
            ok = false;
            r.notes.extend(choice);
        }
        if replayed != decision.verdict {
            ok = false;
            r.notes.push(format!(
                "recomposed verdict `{}` differs from the recorded `{}`",
                replayed.as_str(),
                decision.verdict.as_str()
            ));
        }
        if digest != decision.input_digest {
            ok = false;
            r.notes
                .push("the recorded inputs do not give the recorded input digest".into());
        }
        r.reproduced = ok;
        r
    }
}
