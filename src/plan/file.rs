//! The saved plan: its bytes (the JSON view, `docs/plan-json.md`), reading them back, and
//! whether a saved plan may still be applied to a state.
//!
//! Pure: the workflow layer reads and writes the file; this says what is in it.

use super::{Plan, PLAN_FORMAT_VERSION};

/// Why a saved plan cannot be read or applied. Messages leave out the file's path, which the
/// caller adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    #[error("is not a zsc plan file: {0}")]
    NotAPlan(String),
    #[error("has plan format {found}; this zsc reads format {PLAN_FORMAT_VERSION}")]
    Format { found: u32 },
    #[error(
        "is stale: it was made from state serial {planned} but the state is now at serial \
         {now}{}",
        if *other_lineage { " of another lineage" } else { "" }
    )]
    StaleState {
        planned: u64,
        now: u64,
        other_lineage: bool,
    },
    #[error("is stale: the configuration changed since it was made")]
    StaleConfig,
}

/// The file's bytes: the plan as pretty JSON, with a trailing newline.
pub fn to_bytes(plan: &Plan) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(plan).unwrap_or_default();
    json.push(b'\n');
    json
}

/// A plan from a file's bytes, refused when it is not a plan or of another format.
pub fn from_bytes(bytes: &[u8]) -> Result<Plan, PlanFileError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format_version: Option<u32>,
    }
    // The format first: an older or newer plan need not parse as this one.
    if let Ok(Probe {
        format_version: Some(found),
    }) = serde_json::from_slice::<Probe>(bytes)
    {
        if found != PLAN_FORMAT_VERSION {
            return Err(PlanFileError::Format { found });
        }
    }
    serde_json::from_slice(bytes).map_err(|e| PlanFileError::NotAPlan(e.to_string()))
}

/// The state and configuration a plan is applied to.
pub struct Current<'a> {
    pub lineage: &'a str,
    pub serial: u64,
    /// Whether a state file existed (a plan made before any did starts the lineage).
    pub existed: bool,
    pub config_fingerprint: &'a str,
}

/// Whether `plan` may be applied to `current`: the same lineage and serial it was made from,
/// and the same configuration. A plan made before any state existed may be applied to a state
/// that still does not exist; its lineage then starts the state's history (`Ok(true)`).
pub fn check_fresh(plan: &Plan, current: &Current<'_>) -> Result<bool, PlanFileError> {
    let adopts_lineage = !current.existed && plan.serial == 0;
    let lineage_matches = adopts_lineage || plan.lineage == current.lineage;
    if !lineage_matches || plan.serial != current.serial {
        return Err(PlanFileError::StaleState {
            planned: plan.serial,
            now: current.serial,
            other_lineage: !lineage_matches,
        });
    }
    if plan.config_fingerprint != current.config_fingerprint {
        return Err(PlanFileError::StaleConfig);
    }
    Ok(adopts_lineage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanMeta, Summary};

    fn plan(serial: u64) -> Plan {
        let mut plan = Plan::build(
            PlanMeta {
                lineage: "L".into(),
                serial,
                config_fingerprint: "F".into(),
                refreshed: true,
            },
            &[],
        );
        plan.summary = Summary::default();
        plan
    }

    #[test]
    fn bytes_round_trip_and_other_formats_are_refused() {
        let p = plan(3);
        assert_eq!(from_bytes(&to_bytes(&p)).unwrap(), p);
        let mut old = serde_json::to_value(&p).unwrap();
        old["format_version"] = 1.into();
        assert_eq!(
            from_bytes(old.to_string().as_bytes()),
            Err(PlanFileError::Format { found: 1 })
        );
        assert!(matches!(
            from_bytes(b"{\"nope\": 1}"),
            Err(PlanFileError::NotAPlan(_))
        ));
    }

    #[test]
    fn a_plan_is_fresh_only_for_its_state_and_configuration() {
        let current = |lineage, serial, existed, fingerprint| Current {
            lineage,
            serial,
            existed,
            config_fingerprint: fingerprint,
        };
        assert_eq!(
            check_fresh(&plan(3), &current("L", 3, true, "F")),
            Ok(false)
        );
        assert_eq!(
            check_fresh(&plan(3), &current("L", 4, true, "F")),
            Err(PlanFileError::StaleState {
                planned: 3,
                now: 4,
                other_lineage: false
            })
        );
        assert!(matches!(
            check_fresh(&plan(3), &current("M", 3, true, "F")),
            Err(PlanFileError::StaleState {
                other_lineage: true,
                ..
            })
        ));
        assert_eq!(
            check_fresh(&plan(3), &current("L", 3, true, "G")),
            Err(PlanFileError::StaleConfig)
        );
        // Planned and applied before any state existed: the plan starts the lineage.
        assert_eq!(
            check_fresh(&plan(0), &current("X", 0, false, "F")),
            Ok(true)
        );
    }
}
