//! A worker's broker link when it is cut: when the worker notices, and what happens to what it
//! writes meanwhile (docs/celery-source-notes.md §16).
//!
//! A cut breaks nothing by itself. The worker's connection stays up until its client sends
//! something that goes unacknowledged too long: AMQP's heartbeat frame aborted by py-amqp's
//! 1 s `TCP_USER_TIMEOUT`, Redis' pub/sub health-check PING failing after Linux's 924.6 s of
//! retransmissions. What its processes write meanwhile — acks, rejects, publishes — waits on
//! the link: it lands if the link heals first, and is lost when the connection breaks. A
//! process that exits leaves its unacknowledged data to the kernel, which keeps sending it for
//! `tcp_orphan_retries` (about 102 s). A broker that goes down closes its connections, which is
//! noticed at once (`mod.rs: links_changed`).

use super::worker::Settle;
use super::{BrokerKind, Event, Message, Node, World};
use crate::sim::Schedule;
use crate::time::{SimDuration, SimTime};
use crate::trace::{AckWhen, Loss, Note};
use crate::words::TaskRef;

/// RabbitMQ's own heartbeat offer: the consumer's `broker_heartbeat` (120 s) is negotiated down
/// to it (py-amqp `Connection._on_tune`: the smaller of the two, none if the client asks none).
const RABBITMQ_HEARTBEAT: SimDuration = SimDuration::from_secs(60);
/// py-amqp's `TCP_USER_TIMEOUT` (`transport.py: DEFAULT_SOCKET_SETTINGS`, Linux): data
/// unacknowledged this long aborts the connection.
const AMQP_USER_TIMEOUT: SimDuration = SimDuration::from_secs(1);
/// py-amqp's keepalive on an idle socket without heartbeats: the first probe after
/// `TCP_KEEPIDLE` 60 s, unanswered, aborts at the next keepalive timer, `TCP_KEEPINTVL` 10 s
/// later (the user timeout overrides the probe count; inference).
const AMQP_KEEPALIVE_ABORT: SimDuration = SimDuration::from_secs(70);
/// Linux's `tcp_retries2` = 15: unacknowledged data is retransmitted for about 924.6 s before
/// the socket fails (ip-sysctl.rst); the Redis transport sets no socket timeout of its own.
const TCP_RETRIES2: SimDuration = SimDuration(924_600_000);
/// Linux's `tcp_syn_retries` = 6: a connect whose SYN gets no answer fails after 131 s
/// (ip-sysctl.rst).
const TCP_SYN_RETRIES: SimDuration = SimDuration::from_secs(131);
/// Linux's `tcp_orphan_retries` (default 8): a closed socket's unacknowledged data is
/// retransmitted 8 times, from a 200 ms RTO doubling, about 102 s, then dropped.
const TCP_ORPHAN_RETRIES: SimDuration = SimDuration(102_200_000);

/// Something a worker wrote on its cut broker link.
#[derive(Clone, Debug)]
pub enum Unsent {
    /// An ack or a reject(requeue=True).
    Settle(Settle, u64, TaskRef, AckWhen),
    /// A message published by one of its processes (the producer pool's connection is as
    /// blind as the consumer's).
    Publish(Message),
}

/// What an exited process of a worker left on its cut link, which the kernel still sends.
#[derive(Clone, Debug)]
pub struct Orphaned {
    worker: usize,
    /// When the kernel gives up.
    until: SimTime,
    writes: Vec<(SimTime, Unsent)>,
}

impl World {
    /// Send an ack or a reject(requeue=True) for `tag` from worker `w`: it lands now, waits on
    /// a cut link nobody has noticed, or is lost without a connection.
    #[inline]
    pub(crate) fn settle_tag(
        &mut self,
        now: SimTime,
        w: usize,
        (how, tag, task, when): (Settle, u64, TaskRef, AckWhen),
        out: &mut Schedule<Event>,
    ) {
        if self.workers[w].connected && self.broker_reachable(&Node::Worker(w)) {
            self.settle_lands(now, w, how, tag, task, when);
        } else if self.workers[w].on_cut_link() {
            self.write_on_cut_link(now, w, Unsent::Settle(how, tag, task, when), out);
        } else {
            self.note(now, Note::AckLost { task, worker: w });
        }
    }

    /// An ack or a reject reaches the broker.
    #[inline]
    fn settle_lands(&mut self, now: SimTime, w: usize, how: Settle, tag: u64, task: TaskRef, when: AckWhen) {
        match how {
            Settle::Ack => {
                if self.broker.ack(tag) {
                    self.note(now, Note::Acked { task, worker: w, when });
                }
            }
            Settle::Requeue => {
                if self.broker.requeue(tag) {
                    self.note(now, Note::Requeued { task, why: "reject(requeue=True)" });
                } else {
                    self.note(now, Note::AckLost { task, worker: w });
                }
            }
        }
    }

    /// Worker `w` writes on its cut link: the write waits, and the unacknowledged data makes
    /// its client notice the cut sooner: 1 s later on AMQP, 924.6 s on Redis. On Redis a
    /// publish's LPUSH waits for its reply, so the message is queued when the link heals; on
    /// AMQP `basic_publish` returns once written (no publisher confirms), and the message is
    /// lost unless the link heals within the user timeout. Left out: the publishing process
    /// blocking on Redis meanwhile.
    pub(crate) fn write_on_cut_link(&mut self, now: SimTime, w: usize, write: Unsent, out: &mut Schedule<Event>) {
        let wk = &mut self.workers[w];
        let cut_at = wk.cut_at.expect("only on a cut link");
        wk.unsent.push((now, write));
        let inc = wk.inc;
        out.after(self.unacked_timeout(), Event::ConnectionCheck { worker: w, inc, cut_at });
    }

    /// Worker `w`'s broker link is cut while it is connected: its connection stays up until its
    /// client notices ([`World::notice_at`]).
    pub(crate) fn link_cut(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        if self.workers[w].cut_at.is_some() {
            return;
        }
        self.workers[w].cut_at = Some(now);
        if let Some(at) = self.notice_at(w, now) {
            let inc = self.workers[w].inc;
            out.at(at, Event::ConnectionCheck { worker: w, inc, cut_at: now });
        }
    }

    /// Worker `w`'s broker link works again before it noticed the cut: what it wrote meanwhile
    /// arrives (TCP retransmits it), and nothing else happened.
    pub(crate) fn link_healed(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        if self.workers[w].cut_at.take().is_none() {
            return;
        }
        let unsent = std::mem::take(&mut self.workers[w].unsent);
        self.unsent_lands(now, w, unsent, out);
    }

    /// What was written on a link that healed arrives now; on AMQP a publish only if its
    /// connection outlived the user timeout.
    fn unsent_lands(&mut self, now: SimTime, w: usize, unsent: Vec<(SimTime, Unsent)>, out: &mut Schedule<Event>) {
        let amqp = self.sc.topology.broker == BrokerKind::Amqp;
        for (at, write) in unsent {
            match write {
                Unsent::Settle(how, tag, task, when) => self.settle_lands(now, w, how, tag, task, when),
                Unsent::Publish(msg) if amqp && now.since(at) > AMQP_USER_TIMEOUT => {
                    self.note(now, Note::Lost { task: msg.task, why: Loss::CutConnection });
                }
                Unsent::Publish(msg) => {
                    let from = Node::Worker(w);
                    out.send(&from, Node::Broker, self.latency(), Event::Enqueue { from: from.clone(), msg });
                }
            }
        }
    }

    /// The connection that carried `unsent` broke: none of it arrives.
    pub(crate) fn unsent_lost(&mut self, now: SimTime, w: usize, unsent: Vec<(SimTime, Unsent)>) {
        for (_, write) in unsent {
            match write {
                Unsent::Settle(_, _, task, _) => self.note(now, Note::AckLost { task, worker: w }),
                Unsent::Publish(msg) => self.note(now, Note::Lost { task: msg.task, why: Loss::CutConnection }),
            }
        }
    }

    /// Worker `w`'s process exits with writes waiting on its cut link: the kernel keeps sending
    /// them for `tcp_orphan_retries` from the first (AMQP: its user timeout still applies).
    pub(crate) fn orphan(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        let unsent = std::mem::take(&mut self.workers[w].unsent);
        let Some(first) = unsent.first().map(|(at, _)| *at) else { return };
        let until = first
            + match self.sc.topology.broker {
                BrokerKind::Amqp => AMQP_USER_TIMEOUT,
                BrokerKind::Redis => TCP_ORPHAN_RETRIES,
            };
        if until <= now {
            self.unsent_lost(now, w, unsent);
            return;
        }
        self.orphans.push(Orphaned { worker: w, until, writes: unsent });
        out.at(until, Event::OrphansGiveUp);
    }

    /// After a change of links: orphaned writes whose link works again land.
    pub(crate) fn orphans_land(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        let (linked, cut): (Vec<_>, Vec<_>) = std::mem::take(&mut self.orphans)
            .into_iter()
            .partition(|o| self.broker.up && self.net.connected(&Node::Broker, &Node::Worker(o.worker)));
        self.orphans = cut;
        for o in linked {
            self.unsent_lands(now, o.worker, o.writes, out);
        }
    }

    /// The kernel gives up on orphaned writes whose time is over.
    pub(crate) fn orphans_give_up(&mut self, now: SimTime) {
        let (over, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.orphans).into_iter().partition(|o| o.until <= now);
        self.orphans = kept;
        for o in over {
            self.unsent_lost(now, o.worker, o.writes);
        }
    }

    /// Applying the chord from the producer over a cut link to a Redis broker: its first LPUSH
    /// waits for a reply (the transport sets no socket timeout), so the apply goes on when the
    /// link heals, or raises when Linux gives up retransmitting. Left out: the producer's
    /// process blocking meanwhile, and a producer without a pooled connection, whose connect
    /// would fail after 131 s of SYN retries instead.
    pub(crate) fn apply_waits(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        self.note(now, Note::ApplyWaits);
        self.apply_waiting = Some(now);
        out.at(now + TCP_RETRIES2, Event::ApplyGivesUp { since: now });
    }

    /// The apply that has waited since `since` raises, if it still waits.
    pub(crate) fn apply_gives_up(&mut self, now: SimTime, since: SimTime) {
        if self.apply_waiting == Some(since) {
            self.apply_waiting = None;
            let why = "its publish got no reply over the cut broker link before Linux gave up retransmitting (924.6 s)";
            self.note(now, Note::ApplyFailed { why });
        }
    }

    /// The producer publishes over a cut link to RabbitMQ: `basic_publish` returns once the
    /// frame is written, and the 1 s user timeout aborts the connection, and the message with
    /// it, unless the link heals first.
    pub(crate) fn producer_writes(&mut self, now: SimTime, msg: Message, out: &mut Schedule<Event>) {
        self.producer_unsent.push((now, msg));
        out.after(AMQP_USER_TIMEOUT, Event::ProducerTimeout);
    }

    /// The producer's user timeout: if its link is still cut, what it wrote a second ago or
    /// more is gone with the connection.
    pub(crate) fn producer_timeout(&mut self, now: SimTime) {
        if self.net.connected(&Node::Producer, &Node::Broker) {
            return;
        }
        let (lost, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.producer_unsent)
            .into_iter()
            .partition(|(at, _)| now.since(*at) >= AMQP_USER_TIMEOUT);
        self.producer_unsent = kept;
        for (_, msg) in lost {
            self.note(now, Note::Lost { task: msg.task, why: Loss::CutConnection });
        }
    }

    /// After a change of links: the producer's link works again, so a waiting apply goes on and
    /// what it wrote arrives.
    pub(crate) fn producer_link_healed(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        if !self.broker.up || !self.net.connected(&Node::Producer, &Node::Broker) {
            return;
        }
        if self.apply_waiting.take().is_some() {
            self.publish_chord(now, out);
        }
        for (_, msg) in std::mem::take(&mut self.producer_unsent) {
            let from = Node::Producer;
            out.send(&from, Node::Broker, self.latency(), Event::Enqueue { from: from.clone(), msg });
        }
    }

    /// The client's timeout for the cut at `cut_at` fires: if that cut still stands, the
    /// connection is lost now.
    pub(crate) fn connection_check(
        &mut self,
        now: SimTime,
        w: usize,
        inc: u32,
        cut_at: SimTime,
        out: &mut Schedule<Event>,
    ) {
        let wk = &self.workers[w];
        if wk.inc == inc && wk.connected && wk.cut_at == Some(cut_at) {
            self.connection_lost(now, w, out);
        }
    }

    /// When worker `w`'s consumer notices a cut of its broker link at `cut`: when it next sends
    /// something and that goes unacknowledged too long. AMQP: a heartbeat frame at the next
    /// heartbeat check (every heartbeat / `broker_heartbeat_checkrate`, the heartbeat
    /// negotiated with RabbitMQ), aborted by py-amqp's 1 s user timeout; with no heartbeat, the
    /// keepalive probe after 60 s idle. Redis: the PING on the pub/sub connection every
    /// `health_check_interval`, failing after Linux's retransmissions give up; with no health
    /// check, never. The timers run from when the consumer connected.
    fn notice_at(&self, w: usize, cut: SimTime) -> Option<SimTime> {
        let cfg = self.cfg();
        let since = self.workers[w].connected_at;
        let next_tick = |every: SimDuration| since + every.times(cut.since(since).0 / every.0 + 1);
        match self.sc.topology.broker {
            BrokerKind::Amqp if cfg.broker_heartbeat == SimDuration::ZERO => Some(cut + AMQP_KEEPALIVE_ABORT),
            BrokerKind::Amqp => {
                let heartbeat = cfg.broker_heartbeat.min(RABBITMQ_HEARTBEAT);
                let every = SimDuration::from_secs_f64(heartbeat.as_secs_f64() / cfg.broker_heartbeat_checkrate);
                Some(next_tick(every.max(SimDuration(1))) + AMQP_USER_TIMEOUT)
            }
            BrokerKind::Redis if cfg.health_check_interval == SimDuration::ZERO => None,
            BrokerKind::Redis => Some(next_tick(cfg.health_check_interval) + TCP_RETRIES2),
        }
    }

    /// How long a failed connect to the broker takes before the reconnect loop sleeps: none
    /// when the broker is down (refused at once); across a cut link the SYN gets no answer, and
    /// the attempt fails at its timeout: py-amqp's `connect_timeout`, Celery's
    /// `broker_connection_timeout` (4 s; none: the kernel's), or for Redis, whose transport
    /// passes no connect timeout, Linux's SYN retries (`tcp_syn_retries` 6: 131 s).
    pub(crate) fn unanswered_connect(&self) -> SimDuration {
        match self.sc.topology.broker {
            _ if !self.broker.up => SimDuration::ZERO,
            BrokerKind::Amqp => self.cfg().broker_connection_timeout.unwrap_or(TCP_SYN_RETRIES),
            BrokerKind::Redis => TCP_SYN_RETRIES,
        }
    }

    /// How long data written on the broker connection may go unacknowledged before the
    /// socket fails: py-amqp's user timeout, or Linux's retransmissions for Redis.
    fn unacked_timeout(&self) -> SimDuration {
        match self.sc.topology.broker {
            BrokerKind::Amqp => AMQP_USER_TIMEOUT,
            BrokerKind::Redis => TCP_RETRIES2,
        }
    }
}
