//! The bounded queues of outputs (datagrams, events) that wait to be drained.

use alloc::collections::VecDeque;

/// Pops the front of `queue`, and gives back the memory of a burst (a join
/// answer yields an event per member) once the queue is drained.
pub(crate) fn pop_and_trim<T>(queue: &mut VecDeque<T>) -> Option<T> {
    const KEPT: usize = 64;
    let item = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 16 * KEPT {
        queue.shrink_to(KEPT);
    }
    item
}

/// Appends `item`, first dropping the oldest item if `max` are waiting. True if
/// one was dropped, for the caller to count.
pub(crate) fn push_dropping_oldest<T>(queue: &mut VecDeque<T>, item: T, max: usize) -> bool {
    let dropped = queue.len() >= max && queue.pop_front().is_some();
    queue.push_back(item);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_pushes_drop_the_oldest() {
        let mut q: VecDeque<u32> = VecDeque::new();
        assert!(!push_dropping_oldest(&mut q, 1, 2));
        assert!(!push_dropping_oldest(&mut q, 2, 2));
        assert!(push_dropping_oldest(&mut q, 3, 2));
        assert_eq!(q, [2, 3]);
        assert_eq!(pop_and_trim(&mut q), Some(2));
    }
}
