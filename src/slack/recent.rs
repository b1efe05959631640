//! A bounded set of recently seen keys, so redelivered events and repeated search hits are
//! acted on once without remembering everything forever.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` keys.
#[derive(Debug)]
pub struct Recent {
    seen: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Recent {
    /// An empty set holding at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Recent {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `key`; `true` if it was not seen recently.
    pub fn insert(&mut self, key: &str) -> bool {
        if self.seen.contains(key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(key.to_string());
        self.order.push_back(key.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_new_once_until_forgotten() {
        let mut recent = Recent::new(2);
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(recent.insert("c"));
        // "a" was the oldest of three with room for two.
        assert!(recent.insert("a"));
        assert!(!recent.insert("c"));
    }
}
