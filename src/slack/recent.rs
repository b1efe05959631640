//! A bounded set of recently seen keys, so redelivered events and support calls are acted on
//! once without remembering everything forever.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// Remembers the last `capacity` keys.
#[derive(Debug)]
pub struct Recent<K = String> {
    seen: HashSet<K>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Recent<K> {
    /// An empty set holding at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Recent {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `key`; `true` if it was not seen recently.
    pub fn insert(&mut self, key: impl Into<K>) -> bool {
        let key = key.into();
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(key.clone());
        self.order.push_back(key);
        true
    }

    /// Forgets `key`, so that inserting it again counts as new.
    pub fn remove(&mut self, key: &K) {
        if self.seen.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_new_once_until_forgotten() {
        let mut recent: Recent = Recent::new(2);
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(recent.insert("c"));
        // "a" was the oldest of three with room for two.
        assert!(recent.insert("a"));
        assert!(!recent.insert("c"));
    }

    #[test]
    fn removed_keys_are_new_again_and_free_their_room() {
        let mut recent = Recent::<(u8, u8)>::new(2);
        assert!(recent.insert((1, 1)));
        assert!(recent.insert((2, 2)));
        recent.remove(&(1, 1));
        assert!(recent.insert((1, 1)));
        // (2, 2) is still held: removing (1, 1) made room, so nothing was evicted.
        assert!(!recent.insert((2, 2)));
        recent.remove(&(9, 9));
        assert!(!recent.insert((1, 1)));
    }
}
