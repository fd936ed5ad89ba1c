//! What an application subscribes to: the node's events, as a stream or one at a time,
//! and the events about keys under a prefix.
//!
//! Every subscription has a buffer of `event_buffer` events. One that falls further
//! behind is told how many events it missed ([`RecvError::Lagged`]), then goes on with
//! newer ones: a slow subscriber never stalls gossip, and never silently misses anything.
//! What it missed is still in the node's state ([`crate::Gossip::get`],
//! [`crate::Gossip::members`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use leviathan_gossip_core::Event;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::error::RecvError;

/// A subscription to a node's [`Event`]s ([`crate::Gossip::events`]).
///
/// Take events with [`Events::recv`], or use it as a [`Stream`] of
/// `Result<Event, RecvError>` (with `tokio_stream::StreamExt` or `futures::StreamExt`):
/// the stream yields `Err(RecvError::Lagged(n))` where `n` events were missed, and ends
/// when the node shuts down. A loop must go on after `Lagged`:
///
/// ```no_run
/// # async fn example(gossip: leviathan_gossip::Gossip) {
/// use leviathan_gossip::RecvError;
/// let mut events = gossip.events();
/// loop {
///     match events.recv().await {
///         Ok(event) => println!("{event:?}"),
///         // Missed events: what they said is in gossip.members() and gossip.get().
///         Err(RecvError::Lagged(missed)) => eprintln!("missed {missed} events"),
///         Err(RecvError::Closed) => break,
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Events(BroadcastStream<Event>);

impl Events {
    pub(crate) fn new(receiver: broadcast::Receiver<Event>) -> Self {
        Events(BroadcastStream::new(receiver))
    }

    /// The next event. Fails with [`RecvError::Lagged`] (then continues with newer
    /// events) if this subscriber fell behind, and [`RecvError::Closed`] after shutdown.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .unwrap_or(Err(RecvError::Closed))
    }

    /// Only the events about keys whose name starts with `prefix`, on any node (see
    /// [`KeyEvents`]).
    pub fn with_key_prefix(self, prefix: impl Into<String>) -> KeyEvents {
        KeyEvents {
            events: self,
            prefix: prefix.into(),
        }
    }
}

impl Stream for Events {
    type Item = Result<Event, RecvError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|next| {
            next.map(|received| {
                received
                    .map_err(|BroadcastStreamRecvError::Lagged(missed)| RecvError::Lagged(missed))
            })
        })
    }
}

/// The events about keys under a prefix ([`crate::Gossip::key_events`]): `Updates` holding
/// only the updates of such keys (never empty), and `Deleted` of such keys; nothing else.
/// Like [`Events`], a [`Stream`] of `Result<Event, RecvError>` that surfaces
/// [`RecvError::Lagged`] — counted over all events, since the subscription filters what
/// the node sent it.
#[derive(Debug)]
pub struct KeyEvents {
    events: Events,
    prefix: String,
}

impl KeyEvents {
    /// The prefix the keys are filtered by.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The next event about a key under the prefix; errors as [`Events::recv`].
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .unwrap_or(Err(RecvError::Closed))
    }

    /// `event` cut down to its keys under the prefix, if any is.
    fn keep(&self, event: Event) -> Option<Event> {
        match event {
            Event::Updates(mut updates) => {
                updates.retain(|update| update.key.as_str().starts_with(&self.prefix));
                (!updates.is_empty()).then_some(Event::Updates(updates))
            }
            Event::Deleted { ref key, .. } if key.as_str().starts_with(&self.prefix) => Some(event),
            _ => None,
        }
    }
}

impl Stream for KeyEvents {
    type Item = Result<Event, RecvError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => {
                    if let Some(kept) = self.keep(event) {
                        return Poll::Ready(Some(Ok(kept)));
                    }
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use leviathan_gossip_core::Update;
    use leviathan_gossip_wire::{Key, NodeName, Version};
    use tokio_stream::StreamExt;

    fn update(key: &str) -> Update {
        Update {
            node: NodeName::new("n").unwrap(),
            key: Key::new(key).unwrap(),
            value: Bytes::from_static(b"v"),
            version: Version(1),
        }
    }

    #[tokio::test]
    async fn the_stream_surfaces_missed_events_then_goes_on_and_ends_at_shutdown() {
        let (sender, receiver) = broadcast::channel(2);
        let mut events = Events::new(receiver);
        for i in 0..5 {
            sender
                .send(Event::PeersDiscovered(vec![
                    NodeName::new(format!("p{i}")).unwrap(),
                ]))
                .unwrap();
        }
        assert_eq!(events.next().await, Some(Err(RecvError::Lagged(3))));
        let names: Vec<String> = [events.next().await, events.next().await]
            .into_iter()
            .map(|event| match event {
                Some(Ok(Event::PeersDiscovered(peers))) => peers[0].to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["p3", "p4"]);
        drop(sender);
        assert_eq!(events.next().await, None);
        assert_eq!(events.recv().await, Err(RecvError::Closed));
    }

    #[tokio::test]
    async fn a_key_prefix_keeps_only_its_keys_updates_and_deletes() {
        let (sender, receiver) = broadcast::channel(16);
        let mut events = Events::new(receiver).with_key_prefix("app/");
        let owner = NodeName::new("n").unwrap();
        sender
            .send(Event::PeersDiscovered(vec![owner.clone()]))
            .unwrap();
        sender
            .send(Event::Updates(vec![update("other"), update("app/a")]))
            .unwrap();
        sender.send(Event::Updates(vec![update("apple")])).unwrap();
        for key in ["app", "app/b"] {
            sender
                .send(Event::Deleted {
                    node: owner.clone(),
                    key: Key::new(key).unwrap(),
                    version: Version(2),
                })
                .unwrap();
        }
        drop(sender);
        let mut kept = Vec::new();
        while let Some(event) = events.next().await {
            kept.push(event.unwrap());
        }
        assert_eq!(
            kept,
            vec![
                Event::Updates(vec![update("app/a")]),
                Event::Deleted {
                    node: owner,
                    key: Key::new("app/b").unwrap(),
                    version: Version(2),
                },
            ]
        );
    }
}
