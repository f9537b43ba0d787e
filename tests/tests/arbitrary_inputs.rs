//! Arbitrary input sequences never panic a node, keep every invariant after
//! every step, and are deterministic: the `node_inputs` fuzz target's body
//! (`gossip_sim::fuzzing::check_node_inputs`), fed random bytes by proptest
//! on stable, in every test run.

use gossip_sim::fuzzing::check_node_inputs;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_inputs_keep_every_invariant_and_are_deterministic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4_096)
    ) {
        if let Err(broken) = check_node_inputs(&bytes) {
            prop_assert!(false, "{}", broken);
        }
    }
}
