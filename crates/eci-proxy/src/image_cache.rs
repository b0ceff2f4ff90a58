//! The engine's answers to the image inspects of creates, kept between creates only while nothing
//! can have changed what the name points to since.
//!
//! An allowed create's image inspect was its one engine exchange more than a plain create's
//! (docs/perf, finding 19). The image that runs is the image checked either way (the create is
//! pinned to the inspected id); what a kept answer could get wrong is only which image a name
//! points to, and so it is dropped:
//! - at once when a request through the enforcer may change image names (a pull, an import, a
//!   load, a tag, a removal, a prune, a build, a commit, a push), ECI on or off: no answer is kept
//!   or used until that request's answer has been read to its end (BuildKit's upgraded `/grpc`
//!   connection, whose builds a 20.10 engine does not announce: until it closes), so a
//!   `docker run --pull always` creates from what it just pulled;
//! - when the engine announces such a change made by anyone (its `image` events, and `commit`),
//!   which covers clients of the engine's own socket;
//! - whenever the engine's events are not being followed (before the first subscription, after a
//!   disconnection), when nothing could tell it of a change;
//! - after [`KEPT_FOR`] in any case: an event the engine dropped cannot keep an answer longer.
//!
//! An answer asked for before a change and read after it is never kept: each miss carries the
//! generation it was asked in, and any change starts a new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eci_policy::decide::ImageFacts;

/// The longest an answer is kept, whatever the events say.
pub const KEPT_FOR: Duration = Duration::from_secs(1);
/// At most this many names are kept: the expired answers go first, then the oldest.
const MAX_NAMES: usize = 64;

/// The kept answers of one enforcer.
#[derive(Default)]
pub struct ImageCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The engine's events are being followed.
    following: bool,
    /// Starts anew at every change (or possible change).
    generation: u64,
    /// Requests through the enforcer that may change image names, not yet answered to the end.
    changing: usize,
    /// By the name the create used, the engine's answer and when it was asked for.
    kept: HashMap<String, (ImageFacts, Instant)>,
}

impl State {
    fn usable(&self) -> bool {
        self.following && self.changing == 0
    }

    fn forget(&mut self) {
        self.generation += 1;
        self.kept.clear();
    }
}

/// What [`ImageCache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// A kept answer, still good.
    Kept(ImageFacts),
    /// None: ask the engine, then offer its answer with [`ImageCache::keep`] and this ticket
    /// (`None`: the answer cannot be kept now).
    Ask(Option<Ticket>),
}

/// The generation an inspect was asked in, and when.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
    asked: Instant,
}

impl ImageCache {
    pub fn lookup(&self, name: &str) -> Lookup {
        let Ok(state) = self.state.lock() else {
            return Lookup::Ask(None);
        };
        if !state.usable() {
            return Lookup::Ask(None);
        }
        let now = Instant::now();
        match state.kept.get(name) {
            Some((facts, asked)) if now.duration_since(*asked) < KEPT_FOR => {
                Lookup::Kept(facts.clone())
            }
            _ => Lookup::Ask(Some(Ticket {
                generation: state.generation,
                asked: now,
            })),
        }
    }

    /// Keeps the engine's answer for `name`, asked for with `ticket`, unless anything may have
    /// changed since it was asked for.
    pub fn keep(&self, ticket: Ticket, name: &str, facts: &ImageFacts) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !state.usable() || state.generation != ticket.generation {
            return;
        }
        let kept = &mut state.kept;
        if kept.len() >= MAX_NAMES && !kept.contains_key(name) {
            kept.retain(|_, (_, asked)| asked.elapsed() < KEPT_FOR);
            if kept.len() >= MAX_NAMES {
                let oldest = kept
                    .iter()
                    .min_by_key(|(_, (_, asked))| *asked)
                    .map(|(n, _)| n.clone());
                if let Some(oldest) = oldest {
                    kept.remove(&oldest);
                }
            }
        }
        state
            .kept
            .insert(name.to_owned(), (facts.clone(), ticket.asked));
    }

    /// Applies `change` to the state, then forgets all kept so far: every change of what may be
    /// kept is a possible change of image names.
    fn change(&self, change: impl FnOnce(&mut State)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
            state.forget();
        }
    }

    /// Image names may have changed: nothing kept so far is used.
    pub fn forget(&self) {
        self.change(|_| {});
    }

    /// Whether the engine's events are being followed now (each change of it forgets).
    pub fn following(&self, following: bool) {
        self.change(|state| state.following = following);
    }

    /// A request that may change image names is under way until the guard is dropped (with the
    /// end of its answer): nothing is kept or used meanwhile, and all is forgotten at both ends.
    pub fn changing(self: &Arc<Self>) -> Changing {
        self.change(|state| state.changing += 1);
        Changing(self.clone())
    }
}

/// See [`ImageCache::changing`].
pub struct Changing(Arc<ImageCache>);

impl Drop for Changing {
    fn drop(&mut self) {
        self.0
            .change(|state| state.changing = state.changing.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: &str) -> ImageFacts {
        ImageFacts {
            id: id.into(),
            ..ImageFacts::default()
        }
    }

    fn ask(cache: &ImageCache, name: &str) -> Option<Ticket> {
        match cache.lookup(name) {
            Lookup::Ask(ticket) => ticket,
            Lookup::Kept(f) => panic!("kept {f:?} for {name}"),
        }
    }

    fn kept(cache: &ImageCache, name: &str) -> Option<String> {
        match cache.lookup(name) {
            Lookup::Kept(f) => Some(f.id),
            Lookup::Ask(_) => None,
        }
    }

    fn following() -> Arc<ImageCache> {
        let cache = Arc::new(ImageCache::default());
        cache.following(true);
        cache
    }

    #[test]
    fn an_answer_is_kept_only_while_the_engines_events_are_followed() {
        let cache = Arc::new(ImageCache::default());
        assert!(ask(&cache, "x:1").is_none(), "no ticket before following");
        cache.following(true);
        let t = ask(&cache, "x:1").expect("a ticket while following");
        cache.keep(t, "x:1", &facts("sha256:a"));
        assert_eq!(kept(&cache, "x:1").as_deref(), Some("sha256:a"));
        assert_eq!(kept(&cache, "x:2"), None, "kept by the name asked");
        cache.following(false);
        assert_eq!(kept(&cache, "x:1"), None, "forgotten when the events stop");
        cache.following(true);
        assert_eq!(
            kept(&cache, "x:1"),
            None,
            "and not back when they start again"
        );
    }

    #[test]
    fn an_answer_asked_for_before_a_change_is_not_kept() {
        let cache = following();
        let t = ask(&cache, "x:1").unwrap();
        cache.forget();
        cache.keep(t, "x:1", &facts("sha256:old"));
        assert_eq!(kept(&cache, "x:1"), None);
        let t = ask(&cache, "x:1").unwrap();
        drop(cache.changing());
        cache.keep(t, "x:1", &facts("sha256:old"));
        assert_eq!(
            kept(&cache, "x:1"),
            None,
            "a change through the enforcer too"
        );
    }

    #[test]
    fn nothing_is_kept_or_used_while_a_change_is_under_way_and_all_is_forgotten_after() {
        let cache = following();
        let t = ask(&cache, "x:1").unwrap();
        cache.keep(t, "x:1", &facts("sha256:a"));
        let pull = cache.changing();
        assert!(ask(&cache, "x:1").is_none(), "not used, no ticket");
        let second = cache.changing();
        drop(pull);
        assert!(ask(&cache, "x:1").is_none(), "one change still under way");
        drop(second);
        let t = ask(&cache, "x:1").expect("usable again");
        cache.keep(t, "x:1", &facts("sha256:b"));
        assert_eq!(kept(&cache, "x:1").as_deref(), Some("sha256:b"));
    }

    #[test]
    fn an_answer_is_kept_for_a_second_at_most() {
        let cache = following();
        let mut t = ask(&cache, "x:1").unwrap();
        t.asked -= KEPT_FOR;
        cache.keep(t, "x:1", &facts("sha256:a"));
        assert_eq!(kept(&cache, "x:1"), None);
    }

    #[test]
    fn a_full_cache_drops_its_expired_answers_first() {
        let cache = following();
        let mut old = ask(&cache, "old").unwrap();
        old.asked -= KEPT_FOR;
        cache.keep(old, "old", &facts("sha256:old"));
        for i in 1..MAX_NAMES {
            let t = ask(&cache, &format!("x:{i}")).unwrap();
            cache.keep(t, &format!("x:{i}"), &facts(&format!("sha256:{i}")));
        }
        let t = ask(&cache, "new").unwrap();
        cache.keep(t, "new", &facts("sha256:new"));
        assert_eq!(kept(&cache, "new").as_deref(), Some("sha256:new"));
        assert_eq!(cache.state.lock().unwrap().kept.len(), MAX_NAMES);
        assert_eq!(
            kept(&cache, "x:1").as_deref(),
            Some("sha256:1"),
            "kept: not expired"
        );
    }

    #[test]
    fn at_most_so_many_names_are_kept_the_oldest_going_first() {
        let cache = following();
        for i in 0..=MAX_NAMES {
            let t = ask(&cache, &format!("x:{i}")).unwrap();
            cache.keep(t, &format!("x:{i}"), &facts(&format!("sha256:{i}")));
        }
        assert_eq!(kept(&cache, "x:0"), None, "the oldest went");
        assert_eq!(kept(&cache, "x:1").as_deref(), Some("sha256:1"));
        assert_eq!(
            kept(&cache, &format!("x:{MAX_NAMES}")).as_deref(),
            Some(format!("sha256:{MAX_NAMES}").as_str())
        );
    }
}
