//! The engine's answer as relayed to a client, holding what must last until the client has read
//! it to its end (or gone): hyper drops a body once its end is sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::image_cache::Changing;

/// See the module.
pub struct EngineBody {
    body: Incoming,
    /// A change of image names under way ([`crate::image_cache`]): it ends with the answer.
    _changing: Option<Changing>,
}

impl EngineBody {
    /// The engine's answer `body`, ending the change of image names `changing` (if any) when it
    /// ends.
    pub fn new(body: Incoming, changing: Option<Changing>) -> EngineBody {
        EngineBody {
            body,
            _changing: changing,
        }
    }
}

impl Body for EngineBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
