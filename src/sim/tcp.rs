//! The network driver: the same model over turmoil's simulated TCP (`--driver turmoil`).
//!
//! Each part of the topology — the producer, the broker, the result backend, every worker — is a
//! turmoil host. The messages between parts, which the model sends through
//! [`Schedule::send`](super::Schedule::send) (a publish, a delivery, a result store), travel as
//! [`Frame`]s, length-prefixed JSON, over one TCP connection between each worker or the producer
//! and each of the broker and the backend; everything a part does by itself (timers, task
//! bodies, its own retries) stays in the engine's queue. A frame arrives when TCP delivers it,
//! never before the model's own latency would have brought it (`due`).
//!
//! Virtual time is the engine's. turmoil's clock moves one tick at a time, and only while
//! something is on the wire or a connection is being made; the idle stretches in between are
//! skipped, as the engine skips them, so a run of hours costs what its traffic costs. turmoil's
//! clock runs [`SLOW_MOTION`] times slower than the model's: its tick is 1 ms, the resolution
//! of tokio's timers that every turmoil host runs on (a shorter tick still advances them a
//! whole millisecond), and stands for 100 µs of the model's time, a tenth of the default link
//! latency; the links' latency is scaled alike, less the tick a frame waits to be written. A
//! frame reaches the model when the engine would have delivered it, or up to a tick later
//! when it was sent between two ticks.
//!
//! Faults reach the network as well as the model. A link the model cuts both ways, and every
//! link of a stalled broker or backend, is held: what is on the wire waits, as TCP's
//! retransmissions would keep it, and arrives when the link is released (turmoil's own
//! `partition` drops segments and never retransmits, which wedges a stream for good). turmoil
//! cannot hold one direction, so a frame that arrives over a link cut its way only waits in the
//! driver until the link heals. A part that dies — a killed or shut-down worker, a restarting
//! broker, a backend in an outage — is a crashed host, its connections closed, bounced when it
//! starts again; clients connect anew. What was on the
//! wire to or from a crashed host, and what a part sends across a cut link or to a part that is
//! down, the model settles itself, exactly as under the engine. When a worker notices a cut
//! is the model's rule (`model/link.rs`), the same under both drivers.
//!
//! Deterministic: turmoil's seed comes from the scenario's master seed, its epoch is fixed, the
//! latency is fixed, hosts are stepped in the order they were added, and no `select!` is used.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use turmoil::net::{TcpListener, TcpStream};

use super::{Frame, Limits, Model, Sim, StopReason};
use crate::scenario::Node;
use crate::time::{SimDuration, SimTime};

/// What the driver needs to know of the model beyond its events: its parts, which links are
/// cut, and which parts are running.
pub trait Parts: Model<Event: Serialize + DeserializeOwned + 'static> {
    /// The parts, each one host; servers (`Broker`, `Backend`) are listened on, the others
    /// connect to them.
    fn parts(&self) -> Vec<Node>;
    /// Whether the model has cut `from → to` now.
    fn cut(&self, from: &Node, to: &Node) -> bool;
    /// The part's incarnation while its process runs; `None` while it is down.
    fn running(&self, part: &Node) -> Option<u32>;
    /// Whether the part is stalled at `now`: it reads nothing from its connections.
    fn stalled(&self, part: &Node, now: SimTime) -> bool;
}

/// One turmoil tick (see the module doc).
const TICK: Duration = Duration::from_millis(1);

/// How many of turmoil's microseconds make one of the model's.
pub const SLOW_MOTION: u64 = 10;

/// How long a client waits for a connect to be answered before it tries again.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(10);

/// The port every server part listens on.
const PORT: u16 = 5672;

/// A frame on the wire.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire<E> {
    /// Which frame: the driver counts those still on the wire.
    id: u64,
    /// When it is due, in microseconds ([`Frame::due`]).
    due: u64,
    /// What happens when it arrives.
    event: E,
}

/// The state the hosts share with the driver (one thread: turmoil steps every host on it).
#[derive(Default)]
struct Shared {
    /// Frames read off a connection, in the order they were read.
    arrived: Vec<Vec<u8>>,
    /// The writing end of each connection, by (sending host, receiving host), with the
    /// connection's number (a bounced host's new connection replaces its old one).
    outbox: BTreeMap<(usize, usize), Outbox>,
    /// Connections numbered so far.
    connections: u64,
    /// Connections being made, (client, server), both hosts up: from a (re)start of either
    /// until the server has read who the client is.
    connecting: BTreeSet<(usize, usize)>,
    /// What a client may connect to now: (client, server) pairs whose server is up and whose
    /// link is not held. A connect across a held link, or to a crashed host, would wait
    /// unanswered, each try taking an ephemeral port turmoil never gives back.
    reachable: BTreeSet<(usize, usize)>,
    /// Connections (sending host, receiving host) that closed without a crash the driver saw.
    closed: Vec<(usize, usize)>,
}

type Hosts = Rc<RefCell<Shared>>;

/// A connection's number and the queue its writer sends from.
type Outbox = (u64, UnboundedSender<Vec<u8>>);

/// The driver: a turmoil simulation carrying one model's frames.
pub struct Tcp<E> {
    net: turmoil::Sim<'static>,
    shared: Hosts,
    parts: Vec<Node>,
    names: Vec<String>,
    /// (client, server) host pairs, each one connection.
    pairs: Vec<(usize, usize)>,
    /// Links held now.
    held: BTreeSet<(usize, usize)>,
    /// Each part's incarnation when last looked at.
    running: Vec<Option<u32>>,
    /// Whether each host runs. Every host starts up and connected, a worker the model starts
    /// later too (its boot time covers the connecting); a host crashes when its part dies and
    /// is bounced when it starts again.
    host_up: Vec<bool>,
    /// Frames on the wire: id → (from, to, the frame), kept for the model to settle if a host
    /// at either end crashes before the frame arrives.
    in_flight: BTreeMap<u64, (usize, usize, Frame<E>)>,
    /// Frames that arrived over a link cut in their direction only, which turmoil cannot hold:
    /// (from, to, due, event), handed over when it heals.
    one_way: Vec<(usize, usize, u64, E)>,
    /// Frames whose connection is being made (a host just bounced): (from, to, frame).
    unconnected: Vec<(usize, usize, Frame<E>)>,
    next_id: u64,
    /// The engine's time is turmoil's elapsed time in slow motion, less the warm-up, plus every
    /// idle stretch skipped (the model's µs).
    warm_up: u64,
    skipped: u64,
    /// Ticks taken since the engine's time started, counted against the event budget.
    ticks: u64,
}

impl<E: Serialize + DeserializeOwned + 'static> Tcp<E> {
    /// A simulated network for `model`'s parts, seeded with `seed`, links of `latency`; its
    /// connections are made before the engine's time starts.
    pub fn new<M: Parts<Event = E>>(model: &M, seed: u64, latency: SimDuration) -> Self {
        // A frame is written at the tick after it is sent: the link takes one tick less.
        let latency = Duration::from_micros(latency.0 * SLOW_MOTION).saturating_sub(TICK);
        let mut net = turmoil::Builder::new()
            .rng_seed(seed)
            .epoch(UNIX_EPOCH)
            .tick_duration(TICK)
            .min_message_latency(latency)
            .max_message_latency(latency)
            .tcp_capacity(1 << 16)
            .simulation_duration(Duration::from_secs(u64::from(u32::MAX)))
            .build();
        let parts = model.parts();
        let names: Vec<String> = parts.iter().map(Node::to_string).collect();
        let servers: Vec<usize> = (0..parts.len()).filter(|&i| is_server(&parts[i])).collect();
        let shared = Hosts::default();
        let mut pairs = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let shared = shared.clone();
            if is_server(part) {
                net.host(names[i].as_str(), move || serve(i, shared.clone()));
            } else {
                let targets: Vec<(usize, String)> = servers.iter().map(|&s| (s, names[s].clone())).collect();
                pairs.extend(servers.iter().map(|&s| (i, s)));
                net.host(names[i].as_str(), move || connect_all(i, targets.clone(), shared.clone()));
            }
        }
        let running = parts.iter().map(|p| model.running(p)).collect();
        let host_up = vec![true; parts.len()];
        shared.borrow_mut().connecting = pairs.iter().copied().collect();
        shared.borrow_mut().reachable = pairs.iter().copied().collect();
        let mut tcp = Tcp {
            net,
            shared,
            parts,
            names,
            pairs,
            held: BTreeSet::new(),
            running,
            host_up,
            in_flight: BTreeMap::new(),
            one_way: Vec::new(),
            unconnected: Vec::new(),
            next_id: 0,
            warm_up: 0,
            skipped: 0,
            ticks: 0,
        };
        while !tcp.connected() {
            tcp.tick();
        }
        tcp.warm_up = tcp.net.elapsed().as_micros() as u64 / SLOW_MOTION;
        tcp.ticks = 0;
        tcp
    }

    /// The engine's time now.
    fn now(&self) -> SimTime {
        SimTime(self.net.elapsed().as_micros() as u64 / SLOW_MOTION - self.warm_up + self.skipped)
    }

    /// Whether every running pair has its connection, both ways.
    fn connected(&self) -> bool {
        let sh = self.shared.borrow();
        sh.connecting.is_empty()
            && self
                .pairs
                .iter()
                .all(|&(c, s)| !self.host_up[c] || (sh.outbox.contains_key(&(c, s)) && sh.outbox.contains_key(&(s, c))))
    }

    fn tick(&mut self) {
        self.ticks += 1;
        if let Err(e) = self.net.step() {
            // Hosts never return and nothing here reads past the simulation's duration.
            panic!("the simulated network failed: {e}");
        }
    }

    /// Run `sim` over the network up to `limits`, as [`Sim::run`] does over its queue alone.
    pub fn run<M: Parts<Event = E>>(&mut self, sim: &mut Sim<M>, limits: Limits) -> StopReason {
        let mut frames = Vec::new();
        loop {
            // The budget counts turmoil's ticks with the events: a run whose network never
            // settles stops too.
            if sim.events().saturating_add(sim.model.work()).saturating_add(self.ticks) >= limits.max_events {
                return StopReason::EventBudget;
            }
            let now = self.now();
            self.take_arrivals(sim, now);
            let until = now.min(limits.horizon);
            while sim.step_wired(until, Some(&mut frames)) {
                self.mirror(sim);
                self.dispatch(sim, &mut frames);
                if sim.events().saturating_add(sim.model.work()) >= limits.max_events {
                    return StopReason::EventBudget;
                }
            }
            self.settle_connections(sim);
            if self.idle() {
                match sim.next_at() {
                    None => return StopReason::Quiescent,
                    Some(t) if t > limits.horizon => return StopReason::Horizon,
                    Some(t) => self.skipped += t.0.saturating_sub(now.0),
                }
                continue;
            }
            if now >= limits.horizon {
                return StopReason::Horizon;
            }
            self.tick();
        }
    }

    /// Nothing moves on the network: no frame on a link that is not held, no connection being
    /// made that could be (its server is up, its link not held), nothing read and not yet
    /// handed over.
    fn idle(&self) -> bool {
        let sh = self.shared.borrow();
        sh.arrived.is_empty()
            && sh.connecting.iter().all(|p| !sh.reachable.contains(p))
            && self.unconnected.is_empty()
            && self.in_flight.values().all(|(a, b, _)| self.is_held(*a, *b))
    }

    fn is_held(&self, a: usize, b: usize) -> bool {
        self.held.contains(&(a.min(b), a.max(b)))
    }

    /// Hand what was read to the engine, due when the model says or now, whichever is later.
    fn take_arrivals<M: Parts<Event = E>>(&mut self, sim: &mut Sim<M>, now: SimTime) {
        let arrived = std::mem::take(&mut self.shared.borrow_mut().arrived);
        for buf in arrived {
            let wire: Wire<E> = serde_json::from_slice(&buf).expect("a frame this driver wrote");
            // One the driver has settled already (a host at an end crashed) is not handed over
            // again.
            let Some((a, b, _)) = self.in_flight.remove(&wire.id) else { continue };
            if sim.model.cut(&self.parts[a], &self.parts[b]) {
                // Cut one way only (both ways, turmoil holds it): it waits for the heal here.
                self.one_way.push((a, b, wire.due, wire.event));
            } else {
                sim.schedule(SimTime(wire.due).max(now), wire.event);
            }
        }
    }

    /// Put the frames the last event sent on their connections; one the model sent across a
    /// link it has cut, or between parts that are not both running, it handles itself; one
    /// whose connection is still being made waits for it.
    fn dispatch<M: Parts<Event = E>>(&mut self, sim: &mut Sim<M>, frames: &mut Vec<Frame<E>>) {
        for f in frames.drain(..) {
            let (a, b) = (self.index(&f.from), self.index(&f.to));
            if sim.model.cut(&f.from, &f.to) || self.running[a].is_none() || self.running[b].is_none() {
                sim.schedule(f.due, f.event);
            } else if !self.write(a, b, &f) {
                self.unconnected.push((a, b, f));
            } else {
                self.in_flight.insert(self.next_id, (a, b, f));
            }
        }
    }

    /// Write frame `f` on the connection from `a` to `b`, numbered the next id; false if that
    /// connection is not made yet.
    fn write(&mut self, a: usize, b: usize, f: &Frame<E>) -> bool {
        let sh = self.shared.borrow();
        let Some((_, tx)) = sh.outbox.get(&(a, b)) else { return false };
        self.next_id += 1;
        let wire = Wire { id: self.next_id, due: f.due.0, event: &f.event };
        let body = serde_json::to_vec(&wire).expect("frames serialise");
        let mut buf = Vec::with_capacity(body.len() + 4);
        buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
        buf.extend_from_slice(&body);
        tx.send(buf).expect("a registered connection's writer runs until it is removed");
        true
    }

    /// Between ticks: frames waiting for a connection go on it once it is made, and the model
    /// settles the frames of a connection that closed under them (as for a crash), so that
    /// nothing waits for ever.
    fn settle_connections<M: Parts<Event = E>>(&mut self, sim: &mut Sim<M>) {
        for (a, b, f) in std::mem::take(&mut self.unconnected) {
            if self.running[a].is_none() || self.running[b].is_none() {
                sim.schedule(f.due, f.event);
            } else if self.write(a, b, &f) {
                self.in_flight.insert(self.next_id, (a, b, f));
            } else {
                self.unconnected.push((a, b, f));
            }
        }
        let closed = std::mem::take(&mut self.shared.borrow_mut().closed);
        if closed.is_empty() {
            return;
        }
        let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.in_flight).into_iter().partition(|(_, (a, b, _))| closed.contains(&(*a, *b)));
        self.in_flight = kept;
        for (_, (_, _, f)) in gone {
            sim.schedule(f.due, f.event);
        }
    }

    /// Make the network what the model says it is: a link cut both ways, or to a stalled
    /// part, held; a part that died crashed, and bounced when it starts again.
    fn mirror<M: Parts<Event = E>>(&mut self, sim: &mut Sim<M>) {
        let (model, now) = (&sim.model, sim.now());
        let mut changed = false;
        for &(c, s) in &self.pairs {
            let (pc, ps) = (&self.parts[c], &self.parts[s]);
            let hold = (model.cut(pc, ps) && model.cut(ps, pc)) || model.stalled(pc, now) || model.stalled(ps, now);
            let key = (c.min(s), c.max(s));
            if hold && self.held.insert(key) {
                self.net.hold(self.names[c].as_str(), self.names[s].as_str());
                changed = true;
            } else if !hold && self.held.remove(&key) {
                self.net.release(self.names[c].as_str(), self.names[s].as_str());
                changed = true;
            }
        }
        for i in 0..self.parts.len() {
            let running = sim.model.running(&self.parts[i]);
            let was = std::mem::replace(&mut self.running[i], running);
            if running == was {
                continue;
            }
            changed = true;
            if was.is_some() {
                self.crash(sim, i);
            }
            if running.is_some() && !self.host_up[i] {
                self.net.bounce(self.names[i].as_str());
                self.host_up[i] = true;
                // Not idle until the new process and its peers have connected again.
                let up = &self.host_up;
                let pairs = self.pairs.iter().filter(|&&(c, s)| (c == i || s == i) && up[c] && up[s]);
                self.shared.borrow_mut().connecting.extend(pairs);
            }
        }
        if changed {
            let up = |&&(c, s): &&(usize, usize)| self.host_up[s] && !self.is_held(c, s);
            let reachable = self.pairs.iter().filter(up).copied().collect();
            self.shared.borrow_mut().reachable = reachable;
        }
        if self.one_way.is_empty() {
            return;
        }
        // A one-way cut heals without changing what turmoil holds: look each time.
        let (healed, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.one_way)
            .into_iter()
            .partition(|(a, b, _, _)| !sim.model.cut(&self.parts[*a], &self.parts[*b]));
        self.one_way = waiting;
        for (_, _, due, event) in healed {
            sim.schedule(SimTime(due), event);
        }
    }

    /// Host `i`'s process dies: its connections close. What was on the wire to or from it,
    /// the model settles as the engine would (a delivery to a dead incarnation is dropped, what
    /// a dead process sent still arrives); its connections' tasks are gone, and so are their
    /// outboxes and the connections being made.
    fn crash<M: Parts<Event = E>>(&mut self, sim: &mut Sim<M>, i: usize) {
        self.net.crash(self.names[i].as_str());
        self.host_up[i] = false;
        let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.in_flight).into_iter().partition(|(_, (a, b, _))| *a == i || *b == i);
        self.in_flight = kept;
        for (_, (_, _, f)) in gone {
            sim.schedule(f.due, f.event);
        }
        let (gone, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.one_way).into_iter().partition(|(a, b, _, _)| *a == i || *b == i);
        self.one_way = kept;
        for (_, _, due, event) in gone {
            sim.schedule(SimTime(due), event);
        }
        let mut sh = self.shared.borrow_mut();
        sh.outbox.retain(|(a, b), _| *a != i && *b != i);
        sh.connecting.retain(|(c, s)| *c != i && *s != i);
    }

    fn index(&self, part: &Node) -> usize {
        self.parts.iter().position(|p| p == part).expect("a frame between two parts of the topology")
    }
}

fn is_server(part: &Node) -> bool {
    matches!(part, Node::Broker | Node::Backend)
}

/// A server part: accept connections; each begins with the client's host index.
async fn serve(me: usize, shared: Hosts) -> turmoil::Result {
    let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            let Ok(peer) = stream.read_u32().await else { return };
            let peer = peer as usize;
            shared.borrow_mut().connecting.remove(&(peer, me));
            carry(stream, me, peer, shared).await;
        });
    }
}

/// A client part: keep a connection to every server, carrying frames, until the host crashes;
/// a connection that closes (its server crashed) is made again once the server is up and the
/// link not held. A connect that gets no answer anyway is tried again after
/// [`CONNECT_TIMEOUT`].
async fn connect_all(me: usize, servers: Vec<(usize, String)>, shared: Hosts) -> turmoil::Result {
    for (server, name) in servers {
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            loop {
                if !shared.borrow().reachable.contains(&(me, server)) {
                    tokio::time::sleep(TICK).await;
                    continue;
                }
                let connect = TcpStream::connect((name.as_str(), PORT));
                let Ok(Ok(mut stream)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await else {
                    tokio::time::sleep(TICK).await;
                    continue;
                };
                if stream.write_u32(me as u32).await.is_ok() {
                    carry(stream, me, server, shared.clone()).await;
                }
            }
        });
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Carry frames both ways on one connection until it closes: what the outbox holds for `peer`
/// is written, what is read goes to `arrived`.
async fn carry(stream: TcpStream, me: usize, peer: usize, shared: Hosts) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = unbounded_channel::<Vec<u8>>();
    let number = {
        let mut sh = shared.borrow_mut();
        sh.connections += 1;
        let n = sh.connections;
        sh.outbox.insert((me, peer), (n, tx));
        n
    };
    tokio::task::spawn_local(async move {
        while let Some(buf) = rx.recv().await {
            if wr.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    while let Ok(len) = rd.read_u32().await {
        let mut buf = vec![0; len as usize];
        if rd.read_exact(&mut buf).await.is_err() {
            break;
        }
        shared.borrow_mut().arrived.push(buf);
    }
    let mut sh = shared.borrow_mut();
    if sh.outbox.get(&(me, peer)).is_some_and(|(n, _)| *n == number) {
        sh.outbox.remove(&(me, peer));
        sh.closed.push((me, peer));
    }
}
