//! The network between the producer, the broker, the result backend and the workers: which
//! directed links are cut right now. A partition cuts one or both directions until it heals;
//! overlapping partitions of the same link stack, so a link is up only when every cut has healed.

use std::collections::BTreeMap;

use crate::scenario::Node;

/// Cut counts per directed link.
#[derive(Clone, Debug, Default)]
pub struct Net {
    cuts: BTreeMap<(Node, Node), u32>,
}

impl Net {
    /// Whether `from` can reach `to` now.
    pub fn can_send(&self, from: &Node, to: &Node) -> bool {
        self.cuts.is_empty() || !self.cuts.contains_key(&(from.clone(), to.clone()))
    }

    /// Whether a connection between `a` and `b` works (both directions up).
    pub fn connected(&self, a: &Node, b: &Node) -> bool {
        self.can_send(a, b) && self.can_send(b, a)
    }

    /// Cut `from → to`.
    pub fn cut(&mut self, from: Node, to: Node) {
        *self.cuts.entry((from, to)).or_insert(0) += 1;
    }

    /// Heal one cut of `from → to`.
    pub fn heal(&mut self, from: Node, to: Node) {
        let key = (from, to);
        if let Some(n) = self.cuts.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.cuts.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_up_only_when_every_cut_has_healed() {
        let mut net = Net::default();
        net.cut(Node::Worker(0), Node::Broker);
        net.cut(Node::Worker(0), Node::Broker);
        assert!(!net.can_send(&Node::Worker(0), &Node::Broker));
        assert!(net.can_send(&Node::Broker, &Node::Worker(0)));
        assert!(!net.connected(&Node::Broker, &Node::Worker(0)));
        net.heal(Node::Worker(0), Node::Broker);
        assert!(!net.can_send(&Node::Worker(0), &Node::Broker));
        net.heal(Node::Worker(0), Node::Broker);
        assert!(net.connected(&Node::Broker, &Node::Worker(0)));
    }
}
