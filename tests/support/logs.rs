//! A tracing subscriber that keeps every event and span field as text, so
//! a test can search the logs of a whole flow for secrets.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Everything logged while it was the default subscriber.
#[derive(Clone, Default)]
pub struct Captured {
    text: Arc<Mutex<String>>,
    next_id: Arc<AtomicU64>,
}

struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Captured {
    /// All captured text.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    fn push(&self, f: impl FnOnce(&mut String)) {
        let mut text = self.text.lock().unwrap();
        f(&mut text);
        text.push('\n');
    }
}

impl Subscriber for Captured {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.push(|t| {
            let _ = write!(t, "span {}", span.metadata().name());
            span.record(&mut Text(t));
        });
        Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        self.push(|t| values.record(&mut Text(t)));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        self.push(|t| {
            let _ = write!(t, "{} {}", event.metadata().level(), event.metadata().target());
            event.record(&mut Text(t));
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
