//! Protocol bugs the lab can switch on, on purpose, so that a student can watch a checker catch
//! them. Each is named, off by default, and visible wherever it is on: the service's `/health`,
//! the dashboard, a recorded history's first line. Switched at start (`--bug NAME`) or at run
//! time (`PUT /admin/bugs/{name}` on the service it lives in).

use serde::{Deserialize, Serialize};

use crate::ServiceKind;

/// One deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// A new Paxos leader proposes its own value instead of adopting the highest one accepted
    /// (breaks *Paxos Made Simple* §2.2, P2c): a chosen value can be overwritten.
    PaxosIgnorePromisedValues,
    /// A Paxos acceptor accepts a proposal below the ballot it promised (breaks P1a): a deposed
    /// leader's value can be chosen beside the new leader's.
    PaxosAcceptBelowPromise,
    /// A sync node's CRDT merge drops the persons a peer added: replicas never converge.
    CrdtForgetRemoteAdds,
    /// The synchronous mirroring front acknowledges a write once the primary committed it,
    /// before the mirror has: a failover can lose acknowledged writes.
    MirrorAckBeforeMirrorCommit,
}

impl Bug {
    /// Every bug, in the order `GET /admin/bugs` lists them.
    pub const ALL: [Bug; 4] = [
        Bug::PaxosIgnorePromisedValues,
        Bug::PaxosAcceptBelowPromise,
        Bug::CrdtForgetRemoteAdds,
        Bug::MirrorAckBeforeMirrorCommit,
    ];

    /// The bug's name on the wire and on the command line (`--bug`, `/admin/bugs/{bug}`).
    pub fn as_str(self) -> &'static str {
        match self {
            Bug::PaxosIgnorePromisedValues => "paxos-ignore-promised-values",
            Bug::PaxosAcceptBelowPromise => "paxos-accept-below-promise",
            Bug::CrdtForgetRemoteAdds => "crdt-forget-remote-adds",
            Bug::MirrorAckBeforeMirrorCommit => "mirror-ack-before-mirror-commit",
        }
    }

    /// The kind of service the bug lives in.
    pub fn lives_in(self) -> ServiceKind {
        match self {
            Bug::PaxosIgnorePromisedValues
            | Bug::PaxosAcceptBelowPromise
            | Bug::CrdtForgetRemoteAdds => ServiceKind::SyncNode,
            Bug::MirrorAckBeforeMirrorCommit => ServiceKind::Mirroring,
        }
    }

    /// `Err` with the reason when the bug cannot be switched on in a service of `kind`.
    pub fn switchable_in(self, kind: ServiceKind) -> Result<(), String> {
        if self.lives_in() == kind {
            return Ok(());
        }
        Err(format!("{self} lives in the {} services, not in a {kind}", self.lives_in()))
    }

    /// Its bit in a set of bugs.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Bug {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Bug::ALL.iter().map(|b| b.as_str()).collect();
            format!("unknown bug {s:?}: one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Bug;

    #[test]
    fn bugs_are_named_as_the_wire_names_them() {
        for bug in Bug::ALL {
            let wire = serde_json::to_string(&bug).unwrap();
            assert_eq!(wire, format!("\"{bug}\""));
            assert_eq!(bug.as_str().parse::<Bug>(), Ok(bug));
        }
        let bits: u32 = Bug::ALL.iter().map(|b| b.bit()).sum();
        assert_eq!(bits.count_ones(), 4, "one bit each");
        assert!("paxos-typo".parse::<Bug>().unwrap_err().contains("one of"));
    }
}
