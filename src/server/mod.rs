//! The `iec104-server` role's data side: the Valkey process image served to
//! SCADA masters by a controlled station ([`crate::station`]).
//!
//! Boundary: below is Valkey (the keys and the stream of docs/contract.md,
//! read only: this role never writes a data point), reached only through
//! the store's typed operations ([`crate::store::image::scan`],
//! [`crate::store::stream`]); above is the station, which sees a
//! [`PointSource`](crate::station::PointSource) (the [`ValkeyImage`]) and a
//! `broadcast` channel of spontaneous [`Update`](crate::station::Update)s.
//! The listener, the station and the role's status are wired by the role
//! itself ([`run`](mod@run)).
//!
//! ```text
//! Valkey ── stream::info (XINFO STREAM: last ID) ─┐
//!        ── image::scan (SCAN + MGET) ────────────┴─► image::load ──► ValkeyImage ◄── GI / read (station)
//!        ── stream::read_after (XREAD BLOCK) from that ID ──► follow ──┬──► ValkeyImage (apply)
//!                                                                       └──► broadcast<Update> (cause 3) ──► masters
//! ```
//!
//! - Start: the stream's last ID is read before the image keys, and the
//!   follower reads from that ID, so updates made during the load are
//!   applied again (idempotent: last value wins) and none is missed.
//! - Each stream entry becomes one ASDU with one object, cause 3
//!   (spontaneous), in the type the point is served in: the type it was
//!   reported in, with its time tag, but M_ME_ND_1 (no quality descriptor)
//!   as M_ME_NA_1 while a quality flag is set
//!   ([`DataPoint::to_served_element`](crate::contract::DataPoint::to_served_element));
//!   the image holds that same element for interrogation and read, so a
//!   master sees the flags whichever way it asks (docs/server.md, "Which
//!   type a master receives").
//! - Outage: the follower retries every 500 ms from the last entry it
//!   handled; if entries after it were trimmed meanwhile (an outage, or a
//!   rate beyond the writers' cap divided by its read period), it reloads
//!   the whole image, counts the entries it skipped, and follows from there
//!   (masters get the missed values at their next interrogation).
//! - A common-address restriction hides every other address: its points
//!   are held (so that a changed restriction serves them at once) but
//!   neither counted as served nor sent, and the station answers it as
//!   unknown. Interrogation groups are IOA ranges of the settings.
//! - JSON that is not a data point of its address (in a key or a stream
//!   entry) is counted and skipped; the first of each kind is logged.

pub mod config;
pub mod follow;
pub mod image;
pub mod run;

use std::collections::BTreeSet;

use tracing::{debug, warn};

pub use follow::{FollowStats, Following, start};
pub use image::{Loaded, ValkeyImage, load};
pub use run::run;

/// Logs the first skipped item of each kind as a warning, the others at
/// debug level (they are counted by the caller).
#[derive(Debug)]
pub(crate) struct Problems {
    what: &'static str,
    seen: BTreeSet<&'static str>,
}

impl Problems {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            seen: BTreeSet::new(),
        }
    }

    pub(crate) fn report(&mut self, kind: &'static str, at: &str, detail: &str) {
        if self.seen.insert(kind) {
            warn!(
                what = self.what,
                kind,
                at,
                detail,
                "skipped: not a data point of its address (further ones of this kind are counted and logged at debug level)"
            );
        } else {
            debug!(what = self.what, kind, at, detail, "skipped");
        }
    }
}
