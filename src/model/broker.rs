//! The broker: the task queue, deliveries and the unacked set (celery-semantics §9, kombu's
//! Redis transport). **What happens to an unacked message when its worker dies** is decided
//! here: with Redis it stays in the `unacked` hash until a restore sweep finds it older than
//! `visibility_timeout` (`restore_visible`); with AMQP the broker requeues it as soon as the
//! connection closes.

use std::collections::VecDeque;

use super::Message;
use crate::scenario::BrokerKind;
use crate::time::{SimDuration, SimTime};

/// A message handed to a worker and not yet acked.
#[derive(Clone, Debug)]
pub struct Unacked {
    /// The message.
    pub msg: Message,
    /// Which worker holds it.
    pub worker: usize,
    /// When it was delivered (the unacked index score).
    pub since: SimTime,
}

/// The unacked deliveries in tag order. Tags only grow, so a delivery goes at the back; an ack
/// leaves a hole, dropped once it reaches the front or once holes outnumber deliveries (so its
/// length stays proportional to what is unacked however long one delivery stays unacked; its
/// capacity is that of the most ever unacked at once).
#[derive(Clone, Debug, Default)]
pub struct UnackedSet {
    entries: VecDeque<(u64, Option<Unacked>)>,
    live: usize,
}

impl UnackedSet {
    fn insert(&mut self, tag: u64, u: Unacked) {
        debug_assert!(self.entries.back().is_none_or(|(t, _)| *t < tag), "delivery tags only grow");
        debug_assert!(
            self.entries.iter().rev().find_map(|(_, u)| u.as_ref()).is_none_or(|last| last.since <= u.since),
            "so do delivery times"
        );
        self.entries.push_back((tag, Some(u)));
        self.live += 1;
    }

    fn remove(&mut self, tag: u64) -> Option<Unacked> {
        // Tags are distinct and sorted, so `tag` sits at most `tag - first` places in; with no
        // holes (the common case) exactly there.
        let first = self.entries.front()?.0;
        let guess = usize::try_from(tag.checked_sub(first)?).ok()?;
        let i = match self.entries.get(guess) {
            Some((t, _)) if *t == tag => guess,
            _ => self.entries.binary_search_by_key(&tag, |(t, _)| *t).ok()?,
        };
        let u = self.entries[i].1.take()?;
        self.live -= 1;
        while self.entries.front().is_some_and(|(_, u)| u.is_none()) {
            self.entries.pop_front();
        }
        if self.entries.len() > 2 * self.live + 16 {
            self.entries.retain(|(_, u)| u.is_some());
        }
        Some(u)
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.live = 0;
    }

    /// The unacked deliveries with their tags, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Unacked)> {
        self.entries.iter().filter_map(|(t, u)| u.as_ref().map(|u| (*t, u)))
    }

    /// The unacked deliveries, oldest first.
    pub fn values(&self) -> impl Iterator<Item = &Unacked> {
        self.iter().map(|(_, u)| u)
    }

    /// How many deliveries are unacked.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing is unacked.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

/// The broker's state. Durable parts survive a restart only when persistence is on.
#[derive(Clone, Debug)]
pub struct Broker {
    /// Transport.
    pub kind: BrokerKind,
    /// Whether it is up.
    pub up: bool,
    /// The ready queue, consumed from the front.
    pub queue: VecDeque<Message>,
    /// Delivered, not acked, by delivery tag.
    pub unacked: UnackedSet,
    /// Until when it is stalled: connections stay up, commands wait (the `stall` fault).
    pub stalled_until: SimTime,
    next_tag: u64,
}

impl Broker {
    /// An empty broker.
    pub fn new(kind: BrokerKind) -> Self {
        Broker {
            kind,
            up: true,
            queue: VecDeque::new(),
            unacked: UnackedSet::default(),
            stalled_until: SimTime::ZERO,
            next_tag: 1,
        }
    }

    /// Whether commands wait at `now` (a stall).
    pub fn stalled(&self, now: SimTime) -> bool {
        now < self.stalled_until
    }

    /// Take the next message for `worker`, recording it as unacked. Returns its delivery tag.
    pub fn deliver(&mut self, worker: usize, now: SimTime) -> Option<(u64, Message)> {
        let mut msg = self.queue.pop_front()?;
        msg.deliveries += 1;
        let tag = self.next_tag;
        self.next_tag += 1;
        self.unacked.insert(tag, Unacked { msg: msg.clone(), worker, since: now });
        Some((tag, msg))
    }

    /// Ack a delivery. Returns false if the tag was no longer unacked (already restored).
    pub fn ack(&mut self, tag: u64) -> bool {
        self.unacked.remove(tag).is_some()
    }

    /// Reject with requeue, marked redelivered: kombu's Redis transport pushes it to the tail
    /// of the queue (docs/celery-source-notes.md §4); RabbitMQ puts it back at the head.
    pub fn requeue(&mut self, tag: u64) -> bool {
        match self.unacked.remove(tag) {
            Some(u) => {
                let mut msg = u.msg;
                msg.redelivered = true;
                match self.kind {
                    BrokerKind::Redis => self.queue.push_back(msg),
                    BrokerKind::Amqp => self.queue.push_front(msg),
                }
                true
            }
            None => false,
        }
    }

    /// kombu Redis `QoS.restore_visible`: every unacked delivery older than the visibility
    /// timeout goes back to the queue, whether or not its worker is alive (so a long acks_late
    /// task or a long ETA is delivered twice; catalogue F11, F12). Returns the restored tags.
    /// Deliveries are in tag order and so in time order: the due ones are a prefix, and a sweep
    /// costs what it restores, not what is unacked.
    ///
    /// The scan walks the unacked index newest first and RPUSHes each message, one transaction
    /// each, to the end BRPOP pops from (docs/celery-source-notes.md §4): once it is done the
    /// oldest is consumed first. A consumer already `waiting` in BRPOP (asked only when more
    /// than one message comes back) is handed the first push, the newest, before the others land.
    pub fn restore_visible(
        &mut self,
        now: SimTime,
        visibility_timeout: SimDuration,
        waiting: impl FnOnce() -> bool,
    ) -> Vec<(u64, Message)> {
        if self.unacked.iter().next().is_none_or(|(_, u)| now < u.since + visibility_timeout) {
            return Vec::new(); // the common sweep: nothing is due
        }
        let due: Vec<u64> =
            self.unacked.iter().take_while(|(_, u)| u.since + visibility_timeout <= now).map(|(t, _)| t).collect();
        let back = self.restore_tags(due);
        if back.len() > 1 && waiting() {
            let newest = self.queue.remove(back.len() - 1).expect("restored at the head");
            self.queue.push_front(newest);
        }
        back
    }

    /// Restored messages go back to the head of the queue, in their original order, and are
    /// consumed next: kombu's Redis restore and AMQP's requeue on close alike
    /// (docs/celery-source-notes.md §4).
    pub fn restore_tags(&mut self, tags: Vec<u64>) -> Vec<(u64, Message)> {
        let mut out = Vec::with_capacity(tags.len());
        for tag in tags {
            if let Some(u) = self.unacked.remove(tag) {
                let mut msg = u.msg;
                msg.redelivered = true;
                out.push((tag, msg));
            }
        }
        for (_, m) in out.iter().rev() {
            self.queue.push_front(m.clone());
        }
        out
    }

    /// Restart: without persistence the queue and the unacked hash are gone.
    pub fn restart(&mut self, persistent: bool) {
        if !persistent {
            self.queue.clear();
            self.unacked.clear();
        }
    }

    /// Unacked deliveries held for `worker`, oldest first (for explanations).
    pub fn held_by(&self, worker: usize) -> impl Iterator<Item = (u64, &Unacked)> {
        self.unacked.iter().filter(move |(_, u)| u.worker == worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::TaskRef;

    fn msg(i: u32) -> Message {
        Message::new(TaskRef::Header(i))
    }

    #[test]
    fn unacked_delivery_restored_after_visibility_timeout() {
        let mut b = Broker::new(BrokerKind::Redis);
        b.queue.push_back(msg(0));
        let (tag, _) = b.deliver(0, SimTime::ZERO).unwrap();
        let vt = SimDuration::from_secs(3600);
        assert!(b.restore_visible(SimTime::ZERO + SimDuration::from_secs(3599), vt, || false).is_empty());
        let back = b.restore_visible(SimTime::ZERO + vt, vt, || false);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].0, tag);
        assert!(b.queue[0].redelivered);
        assert!(!b.ack(tag), "an ack after the restore finds nothing");
    }

    #[test]
    fn a_scan_hands_the_newest_to_a_waiting_consumer_and_queues_the_rest_oldest_first() {
        for (waiting, order) in [(false, [0, 1, 2, 3]), (true, [3, 0, 1, 2])] {
            let mut b = Broker::new(BrokerKind::Redis);
            for i in 0..5 {
                b.queue.push_back(msg(i));
            }
            for _ in 0..4 {
                b.deliver(0, SimTime::ZERO);
            }
            let vt = SimDuration::from_secs(3);
            assert_eq!(b.restore_visible(SimTime::ZERO + vt, vt, || waiting).len(), 4);
            let got: Vec<TaskRef> = b.queue.iter().map(|m| m.task).collect();
            let want: Vec<TaskRef> = order.iter().chain(&[4]).map(|&i| TaskRef::Header(i)).collect();
            assert_eq!(got, want, "waiting: {waiting}");
        }
    }

    #[test]
    fn connection_close_requeues_at_the_head_in_order() {
        let mut b = Broker::new(BrokerKind::Amqp);
        for i in 0..3 {
            b.queue.push_back(msg(i));
        }
        b.deliver(0, SimTime::ZERO);
        b.deliver(0, SimTime::ZERO);
        let held: Vec<u64> = b.held_by(0).map(|(t, _)| t).collect();
        assert_eq!(held.len(), 2);
        b.restore_tags(held);
        let order: Vec<TaskRef> = b.queue.iter().map(|m| m.task).collect();
        assert_eq!(order, vec![TaskRef::Header(0), TaskRef::Header(1), TaskRef::Header(2)]);
    }

    #[test]
    fn a_requeue_goes_to_the_tail_on_redis_and_the_head_on_amqp() {
        for (kind, first) in [(BrokerKind::Redis, TaskRef::Header(1)), (BrokerKind::Amqp, TaskRef::Header(0))] {
            let mut b = Broker::new(kind);
            b.queue.push_back(msg(0));
            b.queue.push_back(msg(1));
            let (tag, _) = b.deliver(0, SimTime::ZERO).unwrap();
            assert!(b.requeue(tag));
            assert_eq!(b.queue[0].task, first, "{kind:?}");
            assert!(b.queue.iter().any(|m| m.redelivered));
        }
    }

    #[test]
    fn a_restart_without_persistence_loses_queued_and_unacked_messages() {
        let mut b = Broker::new(BrokerKind::Redis);
        b.queue.push_back(msg(0));
        b.queue.push_back(msg(1));
        b.deliver(0, SimTime::ZERO);
        b.restart(true);
        assert_eq!(b.queue.len() + b.unacked.len(), 2);
        b.restart(false);
        assert!(b.queue.is_empty() && b.unacked.is_empty());
    }

    #[test]
    fn the_unacked_set_keeps_tag_order_and_stays_small_behind_one_old_delivery() {
        let mut b = Broker::new(BrokerKind::Redis);
        for i in 0..1000 {
            b.queue.push_back(msg(i));
        }
        let (first, _) = b.deliver(0, SimTime::ZERO).unwrap();
        let mut kept = vec![first];
        for i in 1..1000 {
            let (tag, _) = b.deliver(0, SimTime::ZERO).unwrap();
            if i % 100 == 0 {
                kept.push(tag);
            } else {
                assert!(b.ack(tag));
                assert!(!b.ack(tag), "a second ack finds nothing");
            }
        }
        let left: Vec<u64> = b.unacked.iter().map(|(t, _)| t).collect();
        assert_eq!(left, kept, "oldest first, acked ones gone");
        assert_eq!(b.unacked.len(), kept.len());
        assert!(b.unacked.entries.len() <= 2 * kept.len() + 16, "holes are dropped: {}", b.unacked.entries.len());
    }
}
