//! A broker link when it is cut: when a worker notices, and what happens to what is written on
//! it meanwhile (docs/celery-source-notes.md §16).
//!
//! A cut breaks nothing by itself. A worker's consumer connection stays up until its client
//! sends something that goes unacknowledged too long: AMQP's heartbeat frame aborted by
//! py-amqp's 1 s `TCP_USER_TIMEOUT`, Redis' pub/sub health-check PING failing after Linux's
//! 924.6 s of retransmissions, or an ack written on the cut link. Acks and rejects written
//! meanwhile wait and land if the link heals first, or are lost with the connection. A publish
//! (a worker's process, the producer) goes on the producer pool's own connection, with its own
//! timeout; applying a chord on Redis waits for its first reply. A process that exits leaves
//! its unacknowledged data to the kernel, which keeps sending it for `tcp_orphan_retries`
//! (about 102 s). A reconnect across the cut fails at its connect timeout. A broker that goes
//! down closes its connections, which is noticed at once (`mod.rs: links_changed`).

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

/// An ack or a reject(requeue=True) a worker wrote on its cut broker link.
#[derive(Clone, Copy, Debug)]
pub struct Unsent(Settle, u64, TaskRef, AckWhen);

/// A message published on a cut broker link (by a worker's process or the producer), on a
/// connection of the producer pool: as blind as the consumer's, with its own timeout.
#[derive(Clone, Debug)]
pub struct CutPublish {
    from: Node,
    /// When it was written.
    at: SimTime,
    /// When its connection fails if the link has not healed by then.
    until: SimTime,
    msg: Message,
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
            self.write_on_cut_link(now, w, Unsent(how, tag, task, when), out);
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

    /// Worker `w` writes an ack or a reject on its cut link: it waits, and the unacknowledged
    /// data makes its client notice the cut sooner: 1 s later on AMQP, 924.6 s on Redis.
    pub(crate) fn write_on_cut_link(&mut self, now: SimTime, w: usize, write: Unsent, out: &mut Schedule<Event>) {
        let wk = &mut self.workers[w];
        let cut_at = wk.cut_at.expect("only on a cut link");
        wk.unsent.push((now, write));
        let inc = wk.inc;
        out.after(self.unacked_timeout(), Event::ConnectionCheck { worker: w, inc, cut_at });
    }

    /// `from` publishes on its cut link, on the producer pool's connection. On Redis the LPUSH
    /// waits for its reply, so the message is queued when the link heals, unless the socket
    /// fails first (924.6 s); on AMQP `basic_publish` returns once written (no publisher
    /// confirms), and the 1 s user timeout aborts the connection and the message with it
    /// unless the link heals first. Left out: the publishing process blocking on Redis
    /// meanwhile, and raising when the socket fails.
    pub(crate) fn publish_on_cut_link(&mut self, now: SimTime, from: &Node, msg: Message, out: &mut Schedule<Event>) {
        let until = now + self.unacked_timeout();
        self.cut_publishes.push(CutPublish { from: from.clone(), at: now, until, msg });
        out.at(until, Event::PublishTimeout);
    }

    /// Publishes whose connection failed before their link healed are gone.
    pub(crate) fn publish_timeout(&mut self, now: SimTime) {
        let (lost, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.cut_publishes).into_iter().partition(|p| p.until <= now);
        self.cut_publishes = kept;
        for p in lost {
            self.note(now, Note::Lost { task: p.msg.task, why: Loss::CutConnection });
        }
    }

    /// After a change of links: publishes waiting on a link that works again are queued; a
    /// broker that went down closed their connections.
    fn cut_publishes_land(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        let (land, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cut_publishes)
            .into_iter()
            .partition(|p| !self.broker.up || self.net.connected(&p.from, &Node::Broker));
        self.cut_publishes = wait;
        for p in land {
            if self.broker.up {
                out.send(&p.from, Node::Broker, self.latency(), Event::Enqueue { from: p.from.clone(), msg: p.msg });
            } else {
                self.note(now, Note::Lost { task: p.msg.task, why: Loss::CutConnection });
            }
        }
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
    pub(crate) fn link_healed(&mut self, now: SimTime, w: usize) {
        if self.workers[w].cut_at.take().is_none() {
            return;
        }
        let unsent = std::mem::take(&mut self.workers[w].unsent);
        self.unsent_lands(now, w, unsent);
    }

    /// What was written on a link that healed arrives now.
    fn unsent_lands(&mut self, now: SimTime, w: usize, unsent: Vec<(SimTime, Unsent)>) {
        for (_, Unsent(how, tag, task, when)) in unsent {
            self.settle_lands(now, w, how, tag, task, when);
        }
    }

    /// The connection that carried `unsent` broke: none of it arrives.
    pub(crate) fn unsent_lost(&mut self, now: SimTime, w: usize, unsent: Vec<(SimTime, Unsent)>) {
        for (_, Unsent(_, _, task, _)) in unsent {
            self.note(now, Note::AckLost { task, worker: w });
        }
    }

    /// Worker `w`'s process exits with writes waiting on its cut link: the kernel keeps sending
    /// them for `tcp_orphan_retries` from the first (AMQP: its user timeout still applies).
    pub(crate) fn orphan(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        // Its publishes' connections are orphaned too.
        let (from, kept) = (Node::Worker(w), self.orphan_retries());
        for p in self.cut_publishes.iter_mut().filter(|p| p.from == from) {
            p.until = p.until.min(p.at + kept);
            out.at(p.until, Event::PublishTimeout);
        }
        let unsent = std::mem::take(&mut self.workers[w].unsent);
        let Some(first) = unsent.first().map(|(at, _)| *at) else { return };
        let until = first + kept;
        if until <= now {
            self.unsent_lost(now, w, unsent);
            return;
        }
        self.orphans.push(Orphaned { worker: w, until, writes: unsent });
        out.at(until, Event::OrphansGiveUp);
    }

    /// How long the kernel keeps a dead process's data from its first write: its orphan
    /// retries (Redis), or the user timeout that still applies (AMQP).
    fn orphan_retries(&self) -> SimDuration {
        match self.sc.topology.broker {
            BrokerKind::Amqp => AMQP_USER_TIMEOUT,
            BrokerKind::Redis => TCP_ORPHAN_RETRIES,
        }
    }

    /// After a change of links: orphaned writes whose link works again land; a broker that
    /// went down closed their connections.
    fn orphans_land(&mut self, now: SimTime) {
        let (done, cut): (Vec<_>, Vec<_>) = std::mem::take(&mut self.orphans)
            .into_iter()
            .partition(|o| !self.broker.up || self.net.connected(&Node::Broker, &Node::Worker(o.worker)));
        self.orphans = cut;
        for o in done {
            if self.broker.up {
                self.unsent_lands(now, o.worker, o.writes);
            } else {
                self.unsent_lost(now, o.worker, o.writes);
            }
        }
    }

    /// After any change of links or of the broker: what waits on cut links lands where its
    /// link works again, and is lost where the broker went down.
    pub(crate) fn cut_writes_settle(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        self.orphans_land(now);
        self.cut_publishes_land(now, out);
        self.producer_link_healed(now, out);
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

    /// After a change of links: the producer's link works again, so a waiting apply goes on
    /// (a broker that went down and came back takes it too: kombu's retry policy reconnects).
    fn producer_link_healed(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        if self.broker.up && self.net.connected(&Node::Producer, &Node::Broker) && self.apply_waiting.take().is_some() {
            self.publish_chord(now, out);
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
