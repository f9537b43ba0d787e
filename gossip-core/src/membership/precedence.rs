//! SWIM's precedence rules, extended with generations, as one pure function:
//! given what this node knows of a member and what a claim says, what to do.
//!
//! Within one generation, with `i` the claim's incarnation and `j` the record's:
//! - alive(i) overrides anything with `i > j`;
//! - suspect(i) overrides alive with `i ≥ j` and suspect with `i > j`; the
//!   same suspicion again confirms it (Lifeguard);
//! - failed(i) about a live member with `i ≥ j` opens a short suspicion
//!   rather than burying it at once (the member gets to refute);
//! - failed(i) and left(i) override alive and suspect with `i ≥ j`; left also
//!   overrides failed, so a departure is reported as one.
//!
//! A newer generation overrides everything known about older ones; claims
//! about older generations are stale. A claim whose incarnation is more than
//! [`MAX_INCARNATION_JUMP`] above the one known is refused: no member raises
//! its incarnation four billion times between two rumors, and an incarnation
//! near `u64::MAX` could not be refuted.

use crate::identity::{Generation, Incarnation};
use crate::member::MemberState;

/// Largest step up from a known incarnation that a claim may take.
pub(crate) const MAX_INCARNATION_JUMP: Incarnation = 1 << 32;

/// True if `claimed` is beyond what a member at `known` could have reached.
pub(crate) fn implausible(known: Incarnation, claimed: Incarnation) -> bool {
    claimed > known.saturating_add(MAX_INCARNATION_JUMP)
}

/// What a claim says about a member, as far as precedence goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Says {
    Alive,
    Suspect,
    Failed,
    Left,
}

/// A life, an incarnation in it and a state: what this node knows of a
/// member, or what a claim says of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View<S> {
    pub(crate) generation: Generation,
    pub(crate) incarnation: Incarnation,
    pub(crate) state: S,
}

/// What to do with a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// About an older life of the member: ignored.
    Stale,
    /// An incarnation no member could have reached: refused.
    Implausible,
    /// Not newer than what is known: ignored.
    Outdated,
    /// The suspicion already held, from someone else: an independent
    /// confirmation (Lifeguard).
    Confirm,
    /// A failure heard about a member still live here: suspect it, briefly.
    FailedElsewhere,
    /// The claim overrides what is known.
    Apply,
}

/// SWIM's precedence: what to do with `claim` given `known`.
pub(crate) fn decide(known: View<MemberState>, claim: View<Says>) -> Decision {
    if claim.generation < known.generation {
        return Decision::Stale;
    }
    let new_life = claim.generation > known.generation;
    if !new_life && implausible(known.incarnation, claim.incarnation) {
        return Decision::Implausible;
    }
    let newer = new_life || claim.incarnation > known.incarnation;
    let not_older = new_life || claim.incarnation >= known.incarnation;
    let same = !new_life && claim.incarnation == known.incarnation;
    let live = known.state.is_live();
    let applies = match claim.state {
        Says::Suspect if same && known.state == MemberState::Suspect => {
            return Decision::Confirm;
        }
        Says::Failed if !new_life && not_older && live => return Decision::FailedElsewhere,
        Says::Alive => newer,
        Says::Suspect => match known.state {
            MemberState::Alive => not_older,
            MemberState::Suspect => newer,
            MemberState::Failed | MemberState::Left => new_life,
        },
        Says::Failed => (live && not_older) || new_life,
        Says::Left => (known.state != MemberState::Left && not_older) || new_life,
    };
    if applies {
        Decision::Apply
    } else {
        Decision::Outdated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::{Apply, Confirm, FailedElsewhere, Implausible, Outdated, Stale};
    use MemberState::{Alive, Failed, Left, Suspect};

    fn known(
        generation: Generation,
        incarnation: Incarnation,
        state: MemberState,
    ) -> View<MemberState> {
        View {
            generation,
            incarnation,
            state,
        }
    }

    fn says(generation: Generation, incarnation: Incarnation, state: Says) -> View<Says> {
        View {
            generation,
            incarnation,
            state,
        }
    }

    /// Every rule of the module's doc, as (known, claim, decision) rows:
    /// generation 1, incarnation 5 known unless a row says otherwise.
    #[test]
    fn the_precedence_table() {
        let rows = [
            // alive(i) overrides anything with i > j.
            (known(1, 5, Alive), says(1, 6, Says::Alive), Apply),
            (known(1, 5, Alive), says(1, 5, Says::Alive), Outdated),
            (known(1, 5, Suspect), says(1, 6, Says::Alive), Apply),
            (known(1, 5, Suspect), says(1, 5, Says::Alive), Outdated),
            (known(1, 5, Failed), says(1, 6, Says::Alive), Apply),
            (known(1, 5, Left), says(1, 6, Says::Alive), Apply),
            (known(1, 5, Left), says(1, 4, Says::Alive), Outdated),
            // suspect(i): over alive with i >= j, over suspect with i > j.
            (known(1, 5, Alive), says(1, 5, Says::Suspect), Apply),
            (known(1, 5, Alive), says(1, 4, Says::Suspect), Outdated),
            (known(1, 5, Suspect), says(1, 6, Says::Suspect), Apply),
            (known(1, 5, Suspect), says(1, 5, Says::Suspect), Confirm),
            (known(1, 5, Suspect), says(1, 4, Says::Suspect), Outdated),
            (known(1, 5, Failed), says(1, 9, Says::Suspect), Outdated),
            (known(1, 5, Left), says(1, 9, Says::Suspect), Outdated),
            // failed(i) about a live member: a short suspicion first.
            (
                known(1, 5, Alive),
                says(1, 5, Says::Failed),
                FailedElsewhere,
            ),
            (
                known(1, 5, Suspect),
                says(1, 7, Says::Failed),
                FailedElsewhere,
            ),
            (known(1, 5, Alive), says(1, 4, Says::Failed), Outdated),
            (known(1, 5, Failed), says(1, 9, Says::Failed), Outdated),
            (known(1, 5, Left), says(1, 9, Says::Failed), Outdated),
            // left(i) over alive, suspect and failed with i >= j.
            (known(1, 5, Alive), says(1, 5, Says::Left), Apply),
            (known(1, 5, Suspect), says(1, 5, Says::Left), Apply),
            (known(1, 5, Failed), says(1, 5, Says::Left), Apply),
            (known(1, 5, Left), says(1, 9, Says::Left), Outdated),
            (known(1, 5, Alive), says(1, 4, Says::Left), Outdated),
            // A newer life overrides everything; an older one is stale.
            (known(1, 5, Alive), says(2, 0, Says::Alive), Apply),
            (known(1, 5, Left), says(2, 0, Says::Suspect), Apply),
            (known(1, 5, Alive), says(2, 0, Says::Failed), Apply),
            (known(1, 5, Left), says(2, 0, Says::Left), Apply),
            (known(1, 5, Alive), says(0, 9, Says::Alive), Stale),
            (known(1, 5, Suspect), says(0, 9, Says::Left), Stale),
            // An incarnation no member reaches is refused, within a life.
            (
                known(1, 5, Alive),
                says(1, 5 + MAX_INCARNATION_JUMP, Says::Alive),
                Apply,
            ),
            (
                known(1, 5, Alive),
                says(1, 6 + MAX_INCARNATION_JUMP, Says::Alive),
                Implausible,
            ),
            (
                known(1, 5, Alive),
                says(1, u64::MAX, Says::Failed),
                Implausible,
            ),
            (known(1, 5, Alive), says(2, u64::MAX, Says::Alive), Apply),
        ];
        for (known, claim, expected) in rows {
            assert_eq!(decide(known, claim), expected, "{known:?} ← {claim:?}");
        }
    }
}
